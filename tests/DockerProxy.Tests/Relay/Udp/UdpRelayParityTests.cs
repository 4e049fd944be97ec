using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// The UDP relay of ours and of both originals, started as dockerd starts them: each echoes; on a
/// wildcard bind ours and 28.5 reply from the address the client sent to (IP_PKTINFO) while 20.10
/// replies from the kernel's choice of source, which a client connected to that address drops; and
/// with -use-listen-fd, a UDP socket prepared as the newest dockerd prepares it is served.
/// </summary>
[Trait("Category", "Process")]
public sealed class UdpRelayParityTests
{
    private static readonly IPAddress Loopback = IPAddress.Loopback;
    private static readonly IPAddress SecondLoopback = IPAddress.Parse("127.0.0.2");

    public static TheoryData<string> AllImplementations => Binaries.All;

    public static TheoryData<string> NewestImplementations => Binaries.Newest;

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task Datagrams_are_echoed_over_IPv4(string which)
    {
        Binaries.Path(which);
        await using UdpEcho backend = UdpEcho.Start(Loopback);
        (SpawnedProcess proxy, IPEndPoint host) = await UdpProxyRun.StartOnFreePortAsync(which, Loopback, backend.EndPoint);
        await using SpawnedProcess started = proxy;
        using Socket client = Datagrams.Connect(host);

        for (int i = 0; i < 3; i++)
        {
            byte[] payload = Datagrams.Text($"{which} datagram {i}");
            (await Datagrams.RoundTripAsync(client, payload)).Should().Equal(payload);
        }

        backend.Received().Select(d => d.From.Port).Distinct().Should().ContainSingle("one client, one backend source port");
    }

    [SkippableTheory]
    [MemberData(nameof(AllImplementations))]
    public async Task On_a_wildcard_bind_the_reply_comes_from_the_address_the_client_sent_to(string which)
    {
        Binaries.Path(which);
        await using UdpEcho backend = UdpEcho.Start(Loopback);
        (SpawnedProcess proxy, IPEndPoint host) = await UdpProxyRun.StartOnFreePortAsync(which, IPAddress.Any, backend.EndPoint);
        await using SpawnedProcess started = proxy;
        var asked = new IPEndPoint(SecondLoopback, host.Port);

        using Socket open = Datagrams.Bind(Loopback);
        byte[] payload = Datagrams.Text($"{which} unconnected to 127.0.0.2");
        _ = await open.SendToAsync(payload, SocketFlags.None, asked).WaitAsync(Datagrams.Patience);
        ReceivedDatagram? reply = await Datagrams.TryReceiveFromAsync(open);
        reply.Should().NotBeNull("{0} echoes", which);
        reply!.Payload.Should().Equal(payload);

        using Socket connected = Datagrams.Connect(asked);
        byte[] second = Datagrams.Text($"{which} connected to 127.0.0.2");
        _ = await connected.SendAsync(second, SocketFlags.None).WaitAsync(Datagrams.Patience);
        if (which == Binaries.Original2010)
        {
            // The documented difference: 20.10 replies from the listening socket without choosing
            // the source, so the kernel takes the route's (127.0.0.1), and a client connected to
            // 127.0.0.2 never sees the reply.
            reply.From.Should().Be(new IPEndPoint(Loopback, host.Port), "20.10 lets the kernel choose the reply's source");
            (await Datagrams.TryReceiveAsync(connected, Datagrams.Silence)).Should().BeNull("the reply's source is not the connected peer");
            (await Poll.UntilAsync(() => backend.Count == 2)).Should().BeTrue("the datagram itself was relayed");
        }
        else
        {
            reply.From.Should().Be(asked, "{0} replies from the address asked (IP_PKTINFO)", which);
            (await Datagrams.TryReceiveAsync(connected)).Should().Equal(second, "a client connected to 127.0.0.2 accepts a reply from 127.0.0.2");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NewestImplementations))]
    public async Task With_use_listen_fd_a_UDP_socket_prepared_as_dockerd_does_is_served(string which)
    {
        Binaries.Path(which);
        await using UdpEcho backend = UdpEcho.Start(Loopback);

        // As dockerd 28 prepares it: bound, blocking, SO_REUSEADDR, IP_PKTINFO on.
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        SpawnedProcess proxy;
        IPEndPoint host;
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.SetRawSocketOption(0, 8, BitConverter.GetBytes(1)); // IPPROTO_IP, IP_PKTINFO
            listener.Bind(new IPEndPoint(IPAddress.Any, 0));
            host = Datagrams.LocalEndPoint(listener);
            proxy = await UdpProxyRun.StartReadyAsync(which, host, backend.EndPoint, new SpawnOptions { ListenFd = (int)listener.Handle }, "-use-listen-fd");
        }
        finally
        {
            listener.Dispose(); // dockerd closes its copy once the proxy answered
        }

        await using (proxy)
        {
            using (Socket client = Datagrams.Connect(new IPEndPoint(Loopback, host.Port)))
            {
                byte[] payload = Datagrams.Text($"{which} over fd 4");
                (await Datagrams.RoundTripAsync(client, payload)).Should().Equal(payload);
            }

            // The fd 4 socket is bound to 0.0.0.0: the reply comes from the address asked.
            using Socket second = Datagrams.Connect(new IPEndPoint(SecondLoopback, host.Port));
            byte[] other = Datagrams.Text($"{which} over fd 4 to 127.0.0.2");
            (await Datagrams.RoundTripAsync(second, other)).Should().Equal(other);

            await ProxyRun.BeforeSignalAsync(which);
            proxy.Signal(Posix.SigTerm);
            (await proxy.WaitForExitAsync()).Should().Be(0);
        }
    }
}
