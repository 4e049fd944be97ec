using System.Net;
using System.Net.Sockets;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// Every legal datagram size crosses the relay intact both ways, from the empty datagram to the
/// largest over IPv4 (65507) and over IPv6 (65527). The 20.10 original drops zero-length datagrams
/// and truncates IPv6 ones over 65507 bytes.
/// </summary>
public sealed class UdpRelayDatagramSizeTests
{
    [Theory]
    [InlineData("127.0.0.1", 0)]
    [InlineData("127.0.0.1", 1)]
    [InlineData("127.0.0.1", 1472)]
    [InlineData("127.0.0.1", 8192)]
    [InlineData("127.0.0.1", Datagrams.MaxIPv4Payload)]
    [InlineData("::1", 0)]
    [InlineData("::1", 1)]
    [InlineData("::1", 8192)]
    [InlineData("::1", Datagrams.MaxIPv4Payload)]
    [InlineData("::1", Datagrams.MaxIPv6Payload)]
    public async Task A_datagram_arrives_intact_at_the_backend_and_back_at_the_client(string address, int size)
    {
        IPAddress loopback = IPAddress.Parse(address);
        await using UdpEcho backend = UdpEcho.Start(loopback);
        await using UdpRelayHost relay = UdpRelayHost.Start(backend.EndPoint, loopback);
        using Socket client = Datagrams.Connect(relay.EndPoint);
        byte[] payload = Datagrams.Seeded(size, size);

        byte[]? reply = await Datagrams.RoundTripAsync(client, payload);

        backend.Received().Should().ContainSingle().Which.Payload.Should().Equal(payload, "the backend receives the datagram whole");
        reply.Should().NotBeNull("the echo of a {0}-byte datagram comes back", size);
        reply.Should().Equal(payload, "the client receives the reply whole");
    }

    [Fact]
    public async Task A_datagram_too_large_for_the_containers_family_is_dropped_and_the_session_keeps_its_source_port()
    {
        // 65,527 bytes fit IPv6 but not IPv4: sent on to an IPv4 container it fails with EMSGSIZE.
        // That concerns this datagram only; the client's session, and the source port the
        // container knows it by, stay.
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Loopback);
        await using UdpRelayHost relay = UdpRelayHost.Start(backend.EndPoint, IPAddress.IPv6Loopback);
        using Socket client = Datagrams.Connect(relay.EndPoint);

        (await Datagrams.RoundTripAsync(client, Datagrams.Text("before"))).Should().Equal(Datagrams.Text("before"));
        _ = await client.SendAsync(Datagrams.Seeded(Datagrams.MaxIPv6Payload, 1), SocketFlags.None).WaitAsync(Datagrams.Patience);
        (await Datagrams.RoundTripAsync(client, Datagrams.Text("after"))).Should().Equal(Datagrams.Text("after"), "the next datagram goes through");

        ReceivedDatagram[] received = backend.Received();
        received.Select(d => Datagrams.Text(d.Payload)).Should().Equal(["before", "after"], "the oversized datagram could not reach an IPv4 container");
        received[1].From.Should().Be(received[0].From, "the session was kept: the container sees the client at the same source port");
    }
}
