using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Relay.Tcp;
using DockerProxy.Tests.Relay.Udp;
using Poll = DockerProxy.Tests.Relay.Tcp.Poll;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Multi;

/// <summary>-config: all-or-nothing start, and SIGHUP reloads that add, remove and keep mappings under live connections.</summary>
[Trait("Category", "Process")]
public sealed class ConfigReloadTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("docker-proxy-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SkippableFact]
    public async Task A_broken_line_fails_the_start_naming_it_and_nothing_listens()
    {
        IPAddress address = PortRange.PrivateLoopback();
        int host = PortRange.Free(address, 20);
        string config = Write("mappings",
            $"tcp:{address}:{host}-{host + 9}:{address}:{host + 10}-{host + 19}\n" +
            "# a comment\n" +
            $"udp:{address}:{host}-{host + 9}:{address}:{host + 10}-{host + 19}\n" +
            $"tcp:{address}:{host + 10}:{address}:80:81\n");

        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ["-config", config]);

        string status = await proxy.ReadStatusTextAsync();
        status.Should().Be($"1\n{config} line 4: invalid mapping \"tcp:{address}:{host + 10}:{address}:80:81\": expected PROTO:HOST_IP:HOST_PORT:CONTAINER_IP:CONTAINER_PORT");
        (await proxy.WaitForExitAsync()).Should().Be(1);
        (await Peers.IsListeningAsync(new IPEndPoint(address, host))).Should().BeFalse();
    }

    [SkippableFact]
    public async Task A_port_in_use_fails_the_whole_start_and_releases_every_port_bound_before_it()
    {
        IPAddress address = PortRange.PrivateLoopback();
        int host = PortRange.Free(address, 30);
        using Socket squatter = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(address, host + 25));
        squatter.Listen(1);
        string config = Write("mappings",
            $"tcp:{address}:{host}-{host + 19}:{address}:{host}-{host + 19}\n" +
            $"tcp:{address}:{host + 25}:{address}:80\n");

        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ["-config", config]);
        string status = await proxy.ReadStatusTextAsync();

        // Looked at before waiting for the exit: the ports bound before the failing one are
        // closed before the failure is reported, not only by the exit.
        for (int port = host; port < host + 20; port++)
        {
            TcpTable.ListenerInode(new IPEndPoint(address, port)).Should().BeNull("port {0} must not stay bound", port);
        }

        status.Should().Be($"1\n{config} line 2: failed to listen on {address}:{host + 25}: listen tcp4 {address}:{host + 25}: bind: address already in use");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableFact]
    public async Task More_mappings_than_the_hard_file_limit_allows_fail_the_start_with_a_message()
    {
        IPAddress address = PortRange.PrivateLoopback();
        int host = PortRange.Free(address, 100);
        string binary = Binaries.Path(Binaries.Ours);
        string map = string.Create(CultureInfo.InvariantCulture, $"tcp:{address}:{host}-{host + 99}:{address}:{host}-{host + 99}");

        // The shell lowers both limits to 64 and then becomes the proxy (fd 3 goes through exec).
        await using SpawnedProcess proxy = SpawnedProcess.Start("/bin/sh",
            ["-c", "ulimit -Sn 64 && ulimit -Hn 64 && exec \"$0\" \"$@\"", binary, "-map", map]);

        string status = await proxy.ReadStatusTextAsync();
        status.Should().StartWith($"1\n-map \"{map}\": failed to listen on {address}:")
            .And.EndWith(": socket: too many open files (the open file limit is 64: raise the hard limit, e.g. ulimit -Hn or LimitNOFILE=)");
        (await proxy.WaitForExitAsync()).Should().Be(1, "a start-up failure, not a crash");
    }

    [SkippableFact]
    public async Task Sighup_adds_removes_and_keeps_mappings_while_connections_go_on()
    {
        IPAddress address = PortRange.PrivateLoopback();
        await using EchoServer keptBackend = Peers.Echo(address);
        await using EchoServer removedBackend = Peers.Echo(address);
        await using EchoServer addedBackend = Peers.Echo(address);
        await using UdpEcho udpBackend = UdpEcho.Start(address);
        int first = PortRange.Free(address, 8);
        var kept = new IPEndPoint(address, first);
        var removed = new IPEndPoint(address, first + 1);
        var added = new IPEndPoint(address, first + 2);
        var rejected = new IPEndPoint(address, first + 3);
        var udpKept = new IPEndPoint(address, first + 4);
        var udpRemoved = new IPEndPoint(address, first + 5);
        var udpAdded = new IPEndPoint(address, first + 6);
        var fixedByFlag = new IPEndPoint(address, first + 7);
        string config = Write("mappings", Line(kept, keptBackend) + Line(removed, removedBackend) + UdpLine(udpKept, udpBackend) + UdpLine(udpRemoved, udpBackend));
        await using SpawnedProcess proxy = await MultiProxy.StartReadyAsync(
            ["-config", config, "-map", Line(fixedByFlag, keptBackend).TrimEnd()], new SpawnOptions());
        string? keptInode = TcpTable.ListenerInode(kept);
        string? fixedInode = TcpTable.ListenerInode(fixedByFlag);
        string? udpKeptInode = TcpTable.UdpInode(udpKept);
        keptInode.Should().NotBeNull();
        fixedInode.Should().NotBeNull();
        udpKeptInode.Should().NotBeNull();
        TcpTable.UdpInode(udpRemoved).Should().NotBeNull();
        using var udpClient = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udpClient.Bind(new IPEndPoint(address, 0));
        await UdpEchoesAsync(udpClient, udpKept, "u-before");

        using Socket onKept = await Peers.ConnectAsync(kept);
        using Socket onRemoved = await Peers.ConnectAsync(removed);
        await EchoesAsync(onKept, "before");
        await EchoesAsync(onRemoved, "before");

        Write("mappings", "# reloaded\n" + Line(kept, keptBackend) + Line(added, addedBackend) + UdpLine(udpKept, udpBackend) + UdpLine(udpAdded, udpBackend));
        using Socket queued = await Peers.ConnectAsync(kept); // in the kept listener's backlog as the reload runs
        proxy.Signal(Posix.SigHup);
        (await Poll.UntilAsync(() => TcpTable.ListenerInode(added) is not null, Peers.Patience)).Should().BeTrue("the new mapping is bound");
        (await Poll.UntilAsync(() => TcpTable.ListenerInode(removed) is null, Peers.Patience)).Should().BeTrue("the removed mapping stops listening");

        TcpTable.ListenerInode(kept).Should().Be(keptInode, "an unchanged mapping keeps its listening socket");
        TcpTable.ListenerInode(fixedByFlag).Should().Be(fixedInode, "a -map mapping is not part of the file and stays");
        TcpTable.UdpInode(udpKept).Should().Be(udpKeptInode, "an unchanged UDP mapping keeps its socket");
        TcpTable.UdpInode(udpRemoved).Should().BeNull("a removed UDP mapping closes");
        await UdpEchoesAsync(udpClient, udpKept, "u-kept");
        await UdpEchoesAsync(udpClient, udpAdded, "u-added");
        await EchoesAsync(queued, "queued");
        await EchoesAsync(onKept, "after");
        await EchoesAsync(onRemoved, "after", "a removed mapping's open connection goes on until it closes");
        onRemoved.Shutdown(SocketShutdown.Send);
        (await Peers.NextEventAsync(onRemoved)).Should().Be("eof", "it then ends cleanly");
        using (Socket onAdded = await Peers.ConnectAsync(added))
        {
            await EchoesAsync(onAdded, "new");
        }

        (await Peers.IsListeningAsync(removed)).Should().BeFalse();

        // A file that does not read leaves everything as it was, and later reloads still work.
        Write("mappings", Line(kept, keptBackend) + Line(added, addedBackend) + Line(rejected, addedBackend) + "tcp:nonsense\n");
        proxy.Signal(Posix.SigHup);
        await proxy.WaitForStderrAsync(text => text.Contains($"{config} line 4: invalid mapping", StringComparison.Ordinal));
        proxy.HasExited.Should().BeFalse();
        TcpTable.ListenerInode(rejected).Should().BeNull("nothing of a bad file is applied");
        TcpTable.ListenerInode(kept).Should().Be(keptInode);
        await EchoesAsync(onKept, "still");

        Write("mappings", Line(kept, keptBackend));
        proxy.Signal(Posix.SigHup);
        (await Poll.UntilAsync(() => TcpTable.ListenerInode(added) is null, Peers.Patience)).Should().BeTrue("the next good reload applies");
        TcpTable.ListenerInode(kept).Should().Be(keptInode);
        TcpTable.ListenerInode(fixedByFlag).Should().Be(fixedInode);
        TcpTable.UdpInode(udpAdded).Should().BeNull();

        proxy.Signal(Posix.SigInt);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        (await proxy.StderrAsync()).Should().Contain($"{config} line 4: invalid mapping \"tcp:nonsense\"", "the failed reload is logged with the line it failed on");
    }

    [SkippableFact]
    public async Task A_mapping_moved_to_another_container_port_takes_over_its_host_port()
    {
        IPAddress address = PortRange.PrivateLoopback();
        await using EchoServer before = Peers.Echo(address);
        await using EchoServer after = Peers.Echo(address);
        var host = new IPEndPoint(address, PortRange.Free(address, 1));
        string config = Write("mappings", Line(host, before));
        await using SpawnedProcess proxy = await MultiProxy.StartReadyAsync(["-config", config]);
        using Socket old = await Peers.ConnectAsync(host);
        await EchoesAsync(old, "old");
        string? oldInode = TcpTable.ListenerInode(host);

        Write("mappings", Line(host, after));
        proxy.Signal(Posix.SigHup);
        (await Poll.UntilAsync(() => TcpTable.ListenerInode(host) is string inode && inode != oldInode, Peers.Patience))
            .Should().BeTrue("the old listener is closed and a new one bound on the same port");

        using (Socket fresh = await Peers.ConnectAsync(host))
        {
            await EchoesAsync(fresh, "fresh");
        }

        after.Accepted.Should().Be(1, "new clients reach the new container port");
        await EchoesAsync(old, "old again", "the connection to the old container port goes on");
        before.Accepted.Should().Be(1);
    }

    [SkippableFact]
    public async Task Without_config_sighup_keeps_its_default_and_ends_the_process()
    {
        IPAddress address = PortRange.PrivateLoopback();
        int host = PortRange.Free(address, 2);
        await using SpawnedProcess proxy = await MultiProxy.StartReadyAsync(["-map", $"tcp:{address}:{host}-{host + 1}:{address}:80-81"]);

        proxy.Signal(Posix.SigHup);

        (await proxy.WaitForExitAsync()).Should().Be(128 + Posix.SigHup, "as the original, which does not handle SIGHUP");
    }

    private static string Line(IPEndPoint host, EchoServer backend) =>
        string.Create(CultureInfo.InvariantCulture, $"tcp:{host.Address}:{host.Port}:{backend.EndPoint.Address}:{backend.EndPoint.Port}\n");

    private static string UdpLine(IPEndPoint host, UdpEcho backend) =>
        string.Create(CultureInfo.InvariantCulture, $"udp:{host.Address}:{host.Port}:{backend.EndPoint.Address}:{backend.EndPoint.Port}\n");

    private static async Task UdpEchoesAsync(Socket client, IPEndPoint host, string text)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        await client.SendToAsync(bytes, host);
        byte[] reply = new byte[256];
        using var timeout = new CancellationTokenSource(Peers.Patience);
        SocketReceiveFromResult got = await client.ReceiveFromAsync(reply, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
        got.RemoteEndPoint.Should().Be(host, "the reply comes from the port the datagram was sent to");
        reply.AsSpan(0, got.ReceivedBytes).ToArray().Should().Equal(bytes);
    }

    private static async Task EchoesAsync(Socket socket, string text, string because = "")
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        await socket.SendAsync(bytes, SocketFlags.None);
        (await Peers.ReadExactlyAsync(socket, bytes.Length)).Should().Equal(bytes, because);
    }

    private string Write(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        string temporary = path + ".new";
        File.WriteAllText(temporary, content);
        File.Move(temporary, path, overwrite: true); // whole, as an editor or a config tool replaces it
        return path;
    }
}
