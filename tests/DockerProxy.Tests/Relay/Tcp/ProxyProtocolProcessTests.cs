using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Relay.Multi;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>-proxy-protocol through the published binary: the bytes the backend reads, and a real
/// PROXY-protocol server (nginx, from Debian's packages) that takes the client's address from them.</summary>
[Trait("Category", "Process")]
public sealed class ProxyProtocolProcessTests
{
    [SkippableFact]
    public async Task The_environment_variable_puts_a_v2_header_before_an_IPv4_clients_bytes()
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, (IPEndPoint)backendListener.LocalEndPoint!,
            new SpawnOptions { Environment = new Dictionary<string, string?> { ["DOCKER_PROXY_PROXY_PROTOCOL"] = "v2" } });

        (Socket client, Socket backend) = await RelayHost.ConnectThroughAsync(host, backendListener);
        using (client)
        using (backend)
        {
            byte[] expected = ProxyHeaderTests.Expected("v2", (IPEndPoint)client.LocalEndPoint!, host);
            await client.SendAsync("ping"u8.ToArray(), SocketFlags.None);
            (await Peers.ReadExactlyAsync(backend, expected.Length + 4)).Should().Equal([.. expected, .. "ping"u8.ToArray()]);
        }
    }

    [SkippableFact]
    public async Task A_mapped_IPv6_client_gets_a_v1_TCP6_header_even_to_an_IPv4_backend()
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        int backendPort = ((IPEndPoint)backendListener.LocalEndPoint!).Port;
        var host = new IPEndPoint(IPAddress.IPv6Loopback, Peers.FreePort(IPAddress.IPv6Loopback));
        await using SpawnedProcess proxy = await MultiProxy.StartReadyAsync(
            ["-map", $"tcp:[::1]:{host.Port}:127.0.0.1:{backendPort}", "-proxy-protocol", "v1"]);

        (Socket client, Socket backend) = await RelayHost.ConnectThroughAsync(host, backendListener);
        using (client)
        using (backend)
        {
            var clientEndPoint = (IPEndPoint)client.LocalEndPoint!;
            byte[] expected = Encoding.ASCII.GetBytes($"PROXY TCP6 ::1 ::1 {clientEndPoint.Port} {host.Port}\r\n");
            await client.SendAsync("ping"u8.ToArray(), SocketFlags.None);
            (await Peers.ReadExactlyAsync(backend, expected.Length + 4)).Should().Equal([.. expected, .. "ping"u8.ToArray()]);
        }
    }

    [SkippableFact]
    public async Task UDP_is_left_alone()
    {
        using var backend = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        backend.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreeUdpPort(IPAddress.Loopback));
        SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("udp", host, (IPEndPoint)backend.LocalEndPoint!, "-proxy-protocol", "v2"));
        await using (proxy)
        {
            (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            await client.SendToAsync("ping"u8.ToArray(), host);

            byte[] datagram = new byte[256];
            using var timeout = new CancellationTokenSource(Peers.Patience);
            SocketReceiveFromResult got = await backend.ReceiveFromAsync(datagram, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
            datagram.AsSpan(0, got.ReceivedBytes).ToArray().Should().Equal("ping"u8.ToArray(), "the PROXY protocol option applies to TCP only");
        }
    }

    [SkippableTheory]
    [InlineData("v1")]
    [InlineData("v2")]
    public async Task Nginx_sees_the_real_client_address_for_IPv4_and_IPv6_clients(string version)
    {
        string binary = NginxBinary();
        int nginx4 = Peers.FreePort(IPAddress.Loopback);
        int nginx6 = Peers.FreePort(IPAddress.IPv6Loopback);
        var host4 = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        var host6 = new IPEndPoint(IPAddress.IPv6Loopback, Peers.FreePort(IPAddress.IPv6Loopback));
        await using var nginx = await Nginx.StartAsync(binary, nginx4, nginx6);
        await using SpawnedProcess proxy = await MultiProxy.StartReadyAsync(
        [
            "-map", string.Create(CultureInfo.InvariantCulture, $"tcp:127.0.0.1:{host4.Port}:127.0.0.1:{nginx4}"),
            "-map", string.Create(CultureInfo.InvariantCulture, $"tcp:[::1]:{host6.Port}:[::1]:{nginx6}"),
            "-proxy-protocol", version,
        ]);

        foreach (IPEndPoint host in new[] { host4, host6 })
        {
            using Socket client = await Peers.ConnectAsync(host);
            var self = (IPEndPoint)client.LocalEndPoint!;
            await client.SendAsync("GET / HTTP/1.0\r\nHost: test\r\n\r\n"u8.ToArray(), SocketFlags.None);
            string response = Encoding.ASCII.GetString(await Peers.ReadToEndAsync(client));

            response.Should().StartWith("HTTP/1.1 200").And.EndWith($"client {self.Address} {self.Port}\n",
                "nginx takes the client's address from the PROXY header ({0})", version);
            (await nginx.AccessLogAsync()).Should().Contain($"proxy_protocol_addr={self.Address} proxy_protocol_port={self.Port} ");
        }
    }

    // Debian's nginx (CI installs it); under CI=true a missing one fails the test instead of skipping it.
    private static string NginxBinary()
    {
        const string path = "/usr/sbin/nginx";
        if (File.Exists(path))
        {
            return path;
        }

        string reason = $"nginx not found at {path}: apt-get install nginx (.ci/run does)";
        if (Environment.GetEnvironmentVariable("CI") == "true")
        {
            throw new FileNotFoundException(reason, path);
        }

        Skip.If(true, reason);
        return path;
    }
}
