using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Relay.Tcp;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Process;

/// <summary>
/// The process contract dockerd relies on (SPEC section 1), run against ours and both originals in
/// the same run: the same scenario must give the same outcome (fd 3 bytes, exit status, what a
/// client sees). Deliberate differences are tested in <see cref="ContractDifferenceTests"/>.
/// </summary>
[Trait("Category", "Process")]
public sealed class ContractParityTests
{
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task Ready_relays_and_stops_on_SIGINT_with_status_0_and_the_port_closed(string which)
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(which, host, backend.EndPoint);

        using (Socket client = await Peers.ConnectAsync(host))
        {
            await client.SendAsync("hello"u8.ToArray(), SocketFlags.None);
            client.Shutdown(SocketShutdown.Send);
            (await Peers.ReadToEndAsync(client)).Should().Equal("hello"u8.ToArray());
        }

        await ProxyRun.BeforeSignalAsync(which);
        proxy.Signal(Posix.SigInt);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        (await Peers.IsListeningAsync(host)).Should().BeFalse("the listener is closed once the proxy exited");
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task SIGTERM_ends_it_with_status_0(string which)
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(which, host, backend.EndPoint);
        using Socket open = await Peers.ConnectAsync(host); // an established connection is cut, not waited for

        await ProxyRun.BeforeSignalAsync(which);
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        (await Peers.NextEventAsync(open)).Should().BeOneOf("eof", "reset");
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task SIGHUP_keeps_its_default_action_and_ends_the_process(string which)
    {
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(which, host, new IPEndPoint(Loopback, 9));
        await ProxyRun.BeforeSignalAsync(which);
        proxy.Signal(Posix.SigHup);
        (await proxy.WaitForExitAsync()).Should().Be(128 + Posix.SigHup);
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task SIGUSR1_SIGUSR2_and_SIGPIPE_are_ignored(string which)
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(which, host, backend.EndPoint);
        await ProxyRun.BeforeSignalAsync(which);
        proxy.Signal(Posix.SigUsr1);
        proxy.Signal(Posix.SigUsr2);
        proxy.Signal(Posix.SigPipe);

        // A signal is acted on when one of the process's threads next returns to user space; a
        // round trip through the proxy takes that long at least, so a fatal default would have
        // ended it by then. SIGINT then ends it with status 0, not by any of the three.
        using (Socket client = await Peers.ConnectAsync(host))
        {
            await client.SendAsync("after"u8.ToArray(), SocketFlags.None);
            client.Shutdown(SocketShutdown.Send);
            (await Peers.ReadToEndAsync(client)).Should().Equal("after"u8.ToArray());
        }

        proxy.HasExited.Should().BeFalse();
        proxy.Signal(Posix.SigInt);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task A_port_in_use_fails_with_Go_bind_error_on_fd_3_and_status_1(string which)
    {
        using Socket occupant = Peers.Listen(Loopback);
        var host = (IPEndPoint)occupant.LocalEndPoint!;
        await using SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(Loopback, 9)));

        string status = await proxy.ReadStatusTextAsync();
        status.Should().StartWith("1\n").And.EndWith($"listen tcp4 {host}: bind: address already in use");
        (await proxy.WaitForExitAsync()).Should().Be(1, "newer engines never signal a proxy whose start failed");
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task An_IPv6_port_in_use_is_reported_with_the_bracketed_address(string which)
    {
        using Socket occupant = Peers.Listen(IPAddress.IPv6Loopback);
        var host = (IPEndPoint)occupant.LocalEndPoint!;
        await using SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(Loopback, 9)));

        (await proxy.ReadStatusTextAsync()).Should().StartWith("1\n").And.EndWith($"listen tcp6 [::1]:{host.Port}: bind: address already in use");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task An_address_not_on_this_host_fails_with_cannot_assign(string which)
    {
        // 192.0.2.1 (TEST-NET-1) is never configured here; bind fails at once, nothing is sent.
        var host = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 8080);
        await using SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(Loopback, 9)));
        (await proxy.ReadStatusTextAsync()).Should().StartWith("1\n").And.EndWith("bind: cannot assign requested address");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task SCTP_on_a_kernel_without_it_fails_with_protocol_not_supported(string which)
    {
        Skip.If(KernelHasSctp(), "this kernel has SCTP");
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("sctp", host, new IPEndPoint(Loopback, 9)));

        // Byte for byte: 20.10 reports the bare errno, 28.5 (and ours, the newest wins) says where.
        (await proxy.ReadStatusTextAsync()).Should().Be(which == Binaries.Original2010
            ? "1\nprotocol not supported"
            : $"1\nfailed to listen on 127.0.0.1:{host.Port}: protocol not supported");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableTheory]
    [MemberData(nameof(NewestImplementations))]
    public async Task SCTP_on_a_kernel_without_it_names_an_IPv6_address_as_the_newest_original(string which)
    {
        Skip.If(KernelHasSctp(), "this kernel has SCTP");
        var host = new IPEndPoint(IPAddress.IPv6Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("sctp", host, new IPEndPoint(Loopback, 9)));
        (await proxy.ReadStatusTextAsync()).Should().Be($"1\nfailed to listen on [::1]:{host.Port}: protocol not supported");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableTheory]
    [InlineData(Binaries.Ours, "-bogus")]
    [InlineData(Binaries.Original2010, "-bogus")]
    [InlineData(Binaries.Original285, "-bogus")]
    [InlineData(Binaries.Ours, "-host-port")]
    [InlineData(Binaries.Original2010, "-host-port")]
    [InlineData(Binaries.Original285, "-host-port")]
    [InlineData(Binaries.Ours, "-host-port=abc")]
    [InlineData(Binaries.Original2010, "-host-port=abc")]
    [InlineData(Binaries.Original285, "-host-port=abc")]
    [InlineData(Binaries.Ours, "-container-port=99999999999999999999")]
    [InlineData(Binaries.Original2010, "-container-port=99999999999999999999")]
    [InlineData(Binaries.Original285, "-container-port=99999999999999999999")]
    [InlineData(Binaries.Ours, "---proto")]
    [InlineData(Binaries.Original2010, "---proto")]
    [InlineData(Binaries.Original285, "---proto")]
    [InlineData(Binaries.Ours, "-host-ip=not-an-ip")]
    [InlineData(Binaries.Original285, "-host-ip=not-an-ip")]
    public async Task A_flag_error_exits_2_with_the_error_on_stderr_and_nothing_on_fd_3(string which, string badArg)
    {
        await using SpawnedProcess proxy = ProxyRun.Start(which, [badArg]);
        (await proxy.ReadStatusAsync()).Should().BeEmpty();
        (await proxy.WaitForExitAsync()).Should().Be(2);
        string stderr = await proxy.StderrAsync();
        stderr.Should().NotBeEmpty();
        stderr.Split('\n')[0].Should().MatchRegex("^(flag provided but not defined|flag needs an argument|invalid value|bad flag syntax)");
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task Flag_errors_are_worded_as_Go_words_them(string which)
    {
        await using SpawnedProcess proxy = ProxyRun.Start(which, ["-proto", "tcp", "-nope", "1"]);
        (await proxy.WaitForExitAsync()).Should().Be(2);
        (await proxy.StderrAsync()).Split('\n')[0].Should().Be("flag provided but not defined: -nope");
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task Help_exits_0_and_writes_nothing_on_fd_3(string which)
    {
        await using SpawnedProcess proxy = ProxyRun.Start(which, ["-h"]);
        (await proxy.ReadStatusAsync()).Should().BeEmpty();
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task Go_flag_spellings_base_prefixed_ports_and_last_one_wins_are_understood(string which)
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        int port = Peers.FreePort(Loopback);
        string[] args =
        [
            "--proto=tcp", "-host-ip", "127.0.0.1", "-host-port=1", "--host-port", "0x" + port.ToString("x", System.Globalization.CultureInfo.InvariantCulture),
            "-container-ip=127.0.0.1", "--container-port", backend.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "stop-here", "-bogus",
        ];
        await using SpawnedProcess proxy = ProxyRun.Start(which, args);
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket client = await Peers.ConnectAsync(new IPEndPoint(Loopback, port));
        await client.SendAsync("x"u8.ToArray(), SocketFlags.None);
        (await Peers.ReadExactlyAsync(client, 1)).Should().Equal("x"u8.ToArray());
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task A_new_proxy_binds_the_same_port_right_after_a_stop_while_connections_sit_in_TIME_WAIT(string which)
    {
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        using Socket backendListener = Peers.Listen(Loopback);
        await using (SpawnedProcess first = await ProxyRun.StartReadyAsync(which, host, (IPEndPoint)backendListener.LocalEndPoint!))
        {
            // The backend closes first, so the proxy's side of each client connection closes
            // first too and is left in TIME_WAIT on the proxied port.
            for (int i = 0; i < 5; i++)
            {
                using Socket client = await Peers.ConnectAsync(host);
                using Socket backendSide = await backendListener.AcceptAsync().WaitAsync(Peers.Patience);
                backendSide.Shutdown(SocketShutdown.Both);
                backendSide.Close();
                (await Peers.NextEventAsync(client)).Should().Be("eof");
                client.Shutdown(SocketShutdown.Send);
            }

            (await Poll.UntilAsync(() => TcpTable.StatesOfConnectionsFrom(host).Contains("TIME_WAIT"), Peers.Patience))
                .Should().BeTrue("the premise: the proxy's side of a client connection sits in TIME_WAIT on the port");
            await ProxyRun.BeforeSignalAsync(which);
            first.Signal(Posix.SigInt);
            (await first.WaitForExitAsync()).Should().Be(0);
        }

        await using SpawnedProcess second = ProxyRun.Start(which, ProxyRun.EngineArgs("tcp", host, (IPEndPoint)backendListener.LocalEndPoint!));
        (await second.ReadStatusTextAsync()).Should().Be("0\n", "SO_REUSEADDR lets the port be bound again at once");
    }

    [SkippableTheory]
    [MemberData(nameof(NewestImplementations))]
    public async Task Both_legs_of_a_connection_have_keepalive_probes_armed(string which)
    {
        // Go's listener and dialer defaults in 28.5 (15 s); 20.10 arms them on the client leg only.
        // A backend that vanished without a reset is then found out instead of held forever.
        using Socket backendListener = Peers.Listen(Loopback);
        var backend = (IPEndPoint)backendListener.LocalEndPoint!;
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(which, host, backend);
        using Socket client = await Peers.ConnectAsync(host);
        using Socket backendSide = await backendListener.AcceptAsync().WaitAsync(Peers.Patience);
        var clientLeg = (Local: host, Remote: (IPEndPoint)client.LocalEndPoint!);
        var backendLeg = (Local: (IPEndPoint)backendSide.RemoteEndPoint!, Remote: backend);

        (await Poll.UntilAsync(() => TcpTable.TimerOf(clientLeg.Local, clientLeg.Remote) == 2, Peers.Patience))
            .Should().BeTrue("the proxy's client leg has its keepalive timer armed ({0})", TcpTable.TimerOf(clientLeg.Local, clientLeg.Remote));
        (await Poll.UntilAsync(() => TcpTable.TimerOf(backendLeg.Local, backendLeg.Remote) == 2, Peers.Patience))
            .Should().BeTrue("the proxy's backend leg has its keepalive timer armed ({0})", TcpTable.TimerOf(backendLeg.Local, backendLeg.Remote));
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task A_refusing_backend_makes_the_client_see_EOF(string which)
    {
        int closedPort = Peers.FreePort(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(which, host, new IPEndPoint(Loopback, closedPort));

        using Socket client = await Peers.ConnectAsync(host);
        (await Peers.NextEventAsync(client)).Should().Be("eof");
    }

    [SkippableTheory]
    [MemberData(nameof(NewestImplementations))]
    public async Task Version_prints_the_original_line_format_and_exits_0(string which)
    {
        await using SpawnedProcess proxy = ProxyRun.Start(which, ["-v"], new SpawnOptions { StderrToDevNull = true, CaptureStdout = true });
        (await proxy.WaitForExitAsync()).Should().Be(0);
        (await proxy.StdoutAsync()).Should().MatchRegex(@"^docker-proxy \(commit [0-9a-f]+\) version \S+\n$");
        (await proxy.ReadStatusAsync()).Should().BeEmpty();
    }

    [SkippableTheory]
    [MemberData(nameof(NewestImplementations))]
    public async Task An_unsupported_protocol_is_reported_on_fd_3(string which)
    {
        await using SpawnedProcess proxy = ProxyRun.Start(which, ["-proto", "UDP", "-host-ip", "127.0.0.1", "-host-port", "0", "-container-ip", "127.0.0.1", "-container-port", "9"]);
        (await proxy.ReadStatusTextAsync()).Should().Be("1\nunsupported protocol UDP");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableTheory]
    [MemberData(nameof(NewestImplementations))]
    public async Task With_use_listen_fd_the_socket_on_fd_4_is_served_as_it_is(string which)
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        // As dockerd 28 prepares it: bound, listening, blocking, SO_REUSEADDR.
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(Loopback, 0));
        listener.Listen(128);
        var host = (IPEndPoint)listener.LocalEndPoint!;
        SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-use-listen-fd"),
            new SpawnOptions { ListenFd = (int)listener.Handle });
        await using (proxy)
        {
            (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
            listener.Dispose(); // dockerd closes its copy once the proxy answered

            using Socket client = await Peers.ConnectAsync(host);
            await client.SendAsync("fd4"u8.ToArray(), SocketFlags.None);
            client.Shutdown(SocketShutdown.Send);
            (await Peers.ReadToEndAsync(client)).Should().Equal("fd4"u8.ToArray());

            await ProxyRun.BeforeSignalAsync(which);
            proxy.Signal(Posix.SigInt);
            (await proxy.WaitForExitAsync()).Should().Be(0);
        }

        (await Peers.IsListeningAsync(host)).Should().BeFalse("the only copy of the listener died with the proxy");
    }

    [SkippableTheory]
    [MemberData(nameof(NewestImplementations))]
    public async Task With_use_listen_fd_a_socket_of_the_wrong_type_is_refused(string which)
    {
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(Loopback, 0));
        var host = (IPEndPoint)udp.LocalEndPoint!;
        await using SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(Loopback, 9), "-use-listen-fd"),
            new SpawnOptions { ListenFd = (int)udp.Handle });
        string status = await proxy.ReadStatusTextAsync();
        status.Should().StartWith("1\n");
        if (which == Binaries.Ours)
        {
            // 28.5 fails inside net.FileListener ("file file+net listen-sock: invalid argument");
            // ours names the mismatch in the wording the original uses for it.
            status.Should().Be("1\nunexpected socket type for listener fd: udp");
        }

        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableFact]
    public async Task Ours_reports_the_same_bind_error_text_as_the_newest_original()
    {
        using Socket occupant = Peers.Listen(Loopback);
        var host = (IPEndPoint)occupant.LocalEndPoint!;
        var texts = new List<string>();
        foreach (string which in new[] { Binaries.Ours, Binaries.Original285 })
        {
            await using SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(Loopback, 9)));
            texts.Add(await proxy.ReadStatusTextAsync());
        }

        texts[0].Should().Be(texts[1]);
    }

    public static TheoryData<string> AllImplementations => Binaries.All;

    public static TheoryData<string> NewestImplementations => Binaries.Newest;

    private static bool KernelHasSctp()
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, (ProtocolType)132);
            return true;
        }
        catch (SocketException)
        {
            return File.Exists("/proc/net/sctp/assocs");
        }
    }
}
