using System.Net;
using System.Net.Sockets;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// Datagrams through an in-process relay to a loopback echo and back: over IPv4, IPv6 and from an
/// IPv6 front to an IPv4 backend; and on a wildcard bind, the reply comes from the address the
/// client sent to (IP_PKTINFO), which a client socket connected to that address requires.
/// </summary>
public sealed class UdpRelayEchoTests
{
    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("::1", "::1")]
    [InlineData("::1", "127.0.0.1")]
    public async Task Datagrams_are_echoed_through_the_relay(string front, string backendAddress)
    {
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Parse(backendAddress));
        await using UdpRelayHost relay = UdpRelayHost.Start(backend.EndPoint, IPAddress.Parse(front));
        using Socket client = Datagrams.Connect(relay.EndPoint);

        for (int i = 0; i < 3; i++)
        {
            byte[] payload = Datagrams.Text($"datagram {i} from {front} to {backendAddress}");
            byte[]? reply = await Datagrams.RoundTripAsync(client, payload);
            reply.Should().NotBeNull("the echo of datagram {0} comes back", i);
            reply.Should().Equal(payload);
        }

        ReceivedDatagram[] received = backend.Received();
        received.Should().HaveCount(3);
        received.Select(d => d.From.Address).Should().AllBeEquivalentTo(IPAddress.Parse(backendAddress), "the relay's backend socket is of the backend's family");
        received.Select(d => d.From.Port).Distinct().Should().ContainSingle("one client is one session with one backend source port");
        relay.Relay.SessionCount.Should().Be(1);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.2")]
    public async Task A_wildcard_bind_replies_from_the_address_the_client_sent_to(string askedAddress)
    {
        IPAddress asked = IPAddress.Parse(askedAddress);
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Loopback);
        await using UdpRelayHost relay = UdpRelayHost.Start(backend.EndPoint, IPAddress.Any);

        // A connected socket drops datagrams from any other source: the reply arrives only if it
        // comes from exactly asked:port.
        using (Socket connected = Datagrams.Connect(relay.At(asked)))
        {
            byte[] payload = Datagrams.Text($"connected to {askedAddress}");
            (await Datagrams.RoundTripAsync(connected, payload)).Should().Equal(payload);
        }

        // The same seen directly, from an unconnected socket.
        using Socket open = Datagrams.Bind(IPAddress.Loopback);
        byte[] second = Datagrams.Text($"unconnected to {askedAddress}");
        await open.SendToAsync(second, SocketFlags.None, relay.At(asked)).WaitAsync(Datagrams.Patience);
        ReceivedDatagram? reply = await Datagrams.TryReceiveFromAsync(open);
        reply.Should().NotBeNull();
        reply!.From.Should().Be(relay.At(asked), "the reply's source is the address the client sent to");
        reply.Payload.Should().Equal(second);
    }
}
