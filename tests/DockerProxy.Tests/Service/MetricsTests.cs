using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Service;

/// <summary>-metrics-listen: the Prometheus endpoint's counters match the traffic sent; SIGUSR1's summary.</summary>
[Trait("Category", "Process")]
public sealed class MetricsTests
{
    [SkippableFact]
    public async Task Tcp_counters_match_the_connections_and_bytes_sent()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        var metrics = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-metrics-listen", metrics.ToString()));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        Dictionary<string, long> before = await ScrapeAsync(metrics);
        before["docker_proxy_connections_accepted_total"].Should().Be(0);

        const int Connections = 5;
        long sent = 0;
        for (int i = 0; i < Connections; i++)
        {
            using Socket client = await Peers.ConnectAsync(host);
            byte[] message = new byte[1000 * (i + 1)];
            Array.Fill(message, (byte)i);
            await client.SendAsync(message, SocketFlags.None);
            (await Peers.ReadExactlyAsync(client, message.Length)).Should().Equal(message);
            sent += message.Length;
            client.Shutdown(SocketShutdown.Send);
            (await Peers.ReadToEndAsync(client)).Should().BeEmpty();
        }

        // Bytes are counted as each connection closes in the proxy, just after the client saw EOF.
        Dictionary<string, long> after = await ScrapeUntilAsync(metrics, m => m["docker_proxy_connections_active"] == 0 && m["docker_proxy_bytes_to_client_total"] == sent);
        after["docker_proxy_connections_accepted_total"].Should().Be(Connections);
        after["docker_proxy_bytes_to_container_total"].Should().Be(sent);
        after["docker_proxy_bytes_to_client_total"].Should().Be(sent);
        after["docker_proxy_connections_refused_total"].Should().Be(0);
        after["docker_proxy_backend_dial_failures_total"].Should().Be(0);
        after["docker_proxy_udp_sessions_created_total"].Should().Be(0);

        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableFact]
    public async Task Dial_failures_are_counted()
    {
        int closedPort = Peers.FreePort(IPAddress.Loopback); // nothing listens: every dial is refused
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        var metrics = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(IPAddress.Loopback, closedPort), "-metrics-listen", metrics.ToString()));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        for (int i = 0; i < 3; i++)
        {
            using Socket client = await Peers.ConnectAsync(host);
            (await Peers.NextEventAsync(client)).Should().Be("eof");
        }

        Dictionary<string, long> after = await ScrapeUntilAsync(metrics, m => m["docker_proxy_backend_dial_failures_total"] == 3);
        after["docker_proxy_connections_accepted_total"].Should().Be(3);
        after["docker_proxy_connections_active"].Should().Be(0);
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableFact]
    public async Task Connections_closed_by_the_limit_are_counted_as_refused()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        var metrics = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-max-connections", "1", "-metrics-listen", metrics.ToString()));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket held = await Peers.ConnectAsync(host);
        await held.SendAsync("x"u8.ToArray(), SocketFlags.None);
        (await Peers.ReadExactlyAsync(held, 1)).Should().Equal("x"u8.ToArray()); // relayed: the one allowed
        for (int i = 0; i < 2; i++)
        {
            using Socket extra = await Peers.ConnectAsync(host);
            (await Peers.NextEventAsync(extra)).Should().BeOneOf("eof", "reset");
        }

        Dictionary<string, long> after = await ScrapeUntilAsync(metrics, m => m["docker_proxy_connections_refused_total"] == 2);
        after["docker_proxy_connections_refused_total"].Should().Be(2);
        after["docker_proxy_connections_accepted_total"].Should().Be(3, "accepted counts every accept, refused ones too");
        after["docker_proxy_connections_active"].Should().Be(1);
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableFact]
    public async Task Udp_counters_match_the_sessions_and_bytes_sent()
    {
        using var backend = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        backend.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreeUdpPort(IPAddress.Loopback));
        var metrics = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("udp", host, (IPEndPoint)backend.LocalEndPoint!, "-metrics-listen", metrics.ToString()));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        long up = 0, down = 0;
        for (int c = 0; c < 2; c++)
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            client.Connect(host);
            for (int i = 0; i < 3; i++)
            {
                byte[] datagram = new byte[100 + i];
                await client.SendAsync(datagram, SocketFlags.None);
                up += datagram.Length;
                byte[] buffer = new byte[2048];
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                SocketReceiveFromResult got = await backend.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                got.ReceivedBytes.Should().Be(datagram.Length);
                byte[] reply = new byte[50];
                await backend.SendToAsync(reply, SocketFlags.None, got.RemoteEndPoint);
                down += reply.Length;
                (await client.ReceiveAsync(buffer, SocketFlags.None, cts.Token)).Should().Be(reply.Length);
            }
        }

        Dictionary<string, long> after = await ScrapeUntilAsync(metrics, m => m["docker_proxy_bytes_to_client_total"] == down);
        after["docker_proxy_udp_sessions_created_total"].Should().Be(2);
        after["docker_proxy_udp_sessions_active"].Should().Be(2);
        after["docker_proxy_udp_sessions_evicted_total"].Should().Be(0);
        after["docker_proxy_bytes_to_container_total"].Should().Be(up);
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableFact]
    public async Task Serves_only_GET_metrics_with_the_Prometheus_content_type()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        var metrics = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-metrics-listen", metrics.ToString()));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        string ok = await RequestAsync(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        ok.Should().StartWith("HTTP/1.1 200 OK\r\n").And.Contain("Content-Type: text/plain; version=0.0.4");
        ok.Should().Contain("# TYPE docker_proxy_connections_accepted_total counter");
        (await RequestAsync(metrics, "GET / HTTP/1.1\r\n\r\n")).Should().StartWith("HTTP/1.1 404 ");
        (await RequestAsync(metrics, "POST /metrics HTTP/1.1\r\n\r\n")).Should().StartWith("HTTP/1.1 405 ");
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableFact]
    public async Task A_metrics_address_already_in_use_fails_the_start_with_status_1()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        using Socket taken = Peers.Listen(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-metrics-listen", taken.LocalEndPoint!.ToString()!));
        (await proxy.ReadStatusTextAsync()).Should().StartWith("1\n-metrics-listen: ").And.Contain("address already in use");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableFact]
    public async Task SIGUSR1_writes_a_one_line_summary_and_keeps_running()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
        using (Socket client = await Peers.ConnectAsync(host))
        {
            await client.SendAsync("hello"u8.ToArray(), SocketFlags.None);
            (await Peers.ReadExactlyAsync(client, 5)).Should().Equal("hello"u8.ToArray());
        }

        proxy.Signal(Posix.SigUsr1);
        await proxy.WaitForStderrAsync(text => text.Contains("Metrics: ", StringComparison.Ordinal));
        proxy.HasExited.Should().BeFalse("SIGUSR1 does not stop the proxy");
        (await Peers.IsListeningAsync(host)).Should().BeTrue();
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        string[] summary = (await proxy.StderrAsync()).Split('\n').Where(l => l.Contains("Metrics: ", StringComparison.Ordinal)).ToArray();
        summary.Should().ContainSingle().Which.Should().Contain("connections.accepted=1");
    }

    [SkippableFact]
    public async Task Under_the_engines_conditions_SIGUSR1_stays_ignored_and_no_metrics_are_collected()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint), new SpawnOptions { StderrToDevNull = true });
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        // The kernel's view: ignored (SIG_IGN), as the original leaves it, not caught.
        const ulong Usr1 = 1UL << (Posix.SigUsr1 - 1);
        (SignalMask(proxy.Pid, "SigIgn") & Usr1).Should().Be(Usr1, "SIGUSR1 is ignored");
        (SignalMask(proxy.Pid, "SigCgt") & Usr1).Should().Be(0UL, "no handler is installed");
        proxy.Signal(Posix.SigUsr1);
        (await Peers.IsListeningAsync(host)).Should().BeTrue();
        proxy.HasExited.Should().BeFalse();
        proxy.Signal(Posix.SigInt);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    // A line of /proc/PID/status such as "SigIgn:\t0000000000001000": bit N-1 is signal N.
    private static ulong SignalMask(int pid, string field)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return ulong.Parse(line[(field.Length + 1)..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    private static async Task<Dictionary<string, long>> ScrapeUntilAsync(IPEndPoint metrics, Func<Dictionary<string, long>, bool> done)
    {
        Dictionary<string, long> last = [];
        for (int i = 0; i < 200; i++)
        {
            last = await ScrapeAsync(metrics);
            if (done(last))
            {
                return last;
            }

            await Task.Delay(25);
        }

        return last; // the caller's assertions say what is off
    }

    internal static async Task<Dictionary<string, long>> ScrapeAsync(IPEndPoint metrics)
    {
        string response = await RequestAsync(metrics, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
        response.Should().StartWith("HTTP/1.1 200 OK");
        string body = response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        var samples = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!line.StartsWith('#'))
            {
                string[] parts = line.Split(' ');
                samples[parts[0]] = long.Parse(parts[1], CultureInfo.InvariantCulture);
            }
        }

        return samples;
    }

    private static async Task<string> RequestAsync(IPEndPoint metrics, string request)
    {
        using Socket client = await Peers.ConnectAsync(metrics);
        await client.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None);
        return Encoding.UTF8.GetString(await Peers.ReadToEndAsync(client));
    }
}
