using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability;

/// <summary>-user: once listening, the proxy is nobody, with no groups and no capabilities, and still relays.</summary>
[Trait("Category", "Process")]
public sealed class PrivilegeDropTests
{
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableTheory]
    [InlineData("tcp")]
    [InlineData("udp")]
    public async Task As_nobody_it_holds_no_privilege_and_still_relays(string proto)
    {
        Skip.IfNot(Environment.UserName == "root", "needs root to drop privileges from");
        (uint uid, uint gid) = Nobody();

        using var udpBackend = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udpBackend.Bind(new IPEndPoint(Loopback, 0));
        await using EchoServer tcpBackend = Peers.Echo(Loopback);
        IPEndPoint backend = proto == "tcp" ? tcpBackend.EndPoint : (IPEndPoint)udpBackend.LocalEndPoint!;
        var host = new IPEndPoint(Loopback, proto == "tcp" ? Peers.FreePort(Loopback) : Peers.FreeUdpPort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs(proto, host, backend, "-user", "nobody"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        Dictionary<string, string> status = File.ReadLines($"/proc/{proxy.Pid}/status")
            .Select(l => l.Split(':', 2))
            .ToDictionary(p => p[0], p => p[1].Trim());
        status["Uid"].Split('\t').Should().AllBe(uid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        status["Gid"].Split('\t').Should().AllBe(gid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        status["Groups"].Should().BeEmpty();
        foreach (string set in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" })
        {
            status[set].Should().Be("0000000000000000", set);
        }

        status["NoNewPrivs"].Should().Be("1");

        if (proto == "tcp")
        {
            using Socket client = await Peers.ConnectAsync(host);
            await client.SendAsync("as nobody"u8.ToArray(), SocketFlags.None);
            client.Shutdown(SocketShutdown.Send);
            (await Peers.ReadToEndAsync(client)).Should().Equal("as nobody"u8.ToArray());
        }
        else
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            client.Connect(host);
            await client.SendAsync("as nobody"u8.ToArray(), SocketFlags.None);
            byte[] buffer = new byte[64];
            SocketReceiveFromResult got = await udpBackend.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0)).WaitAsync(Peers.Patience);
            await udpBackend.SendToAsync(buffer.AsMemory(0, got.ReceivedBytes), got.RemoteEndPoint);
            int n = await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Peers.Patience);
            buffer[..n].Should().Equal("as nobody"u8.ToArray());
        }
    }

    [SkippableFact]
    public async Task An_unknown_user_is_a_startup_failure_never_a_fallback_to_root()
    {
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(Loopback, 9), "-user", "no-such-user-here"));
        (await proxy.ReadStatusTextAsync()).Should().Be("1\n-user no-such-user-here: no such user");
        (await proxy.WaitForExitAsync()).Should().Be(1);
        (await Peers.IsListeningAsync(host)).Should().BeFalse("nothing stays bound after a failed start");
    }

    private static (uint Uid, uint Gid) Nobody()
    {
        string line = File.ReadLines("/etc/passwd").First(l => l.StartsWith("nobody:", StringComparison.Ordinal));
        string[] fields = line.Split(':');
        return (uint.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture), uint.Parse(fields[3], System.Globalization.CultureInfo.InvariantCulture));
    }
}
