using System.Net;
using System.Net.Sockets;
using DockerProxy.Relay.Udp;
using Microsoft.Extensions.Time.Testing;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// Session expiry in virtual time: a session idle past the timeout is closed (the next datagram
/// opens a new one, with a new backend source port); datagrams either way keep it alive, from the
/// client alone as from the backend alone (20.10 counted only replies). The clock is a
/// FakeTimeProvider: advancing it runs the relay's sweeper timer; the sockets are real.
/// </summary>
public sealed class UdpRelaySessionLifetimeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_session_idle_past_the_timeout_is_closed_and_the_next_datagram_opens_a_new_one()
    {
        var time = new FakeTimeProvider();
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Loopback);
        await using UdpRelayHost relay = Start(backend, time);
        using Socket client = Datagrams.Connect(relay.EndPoint);

        byte[] first = Datagrams.Text("first");
        (await Datagrams.RoundTripAsync(client, first)).Should().Equal(first);
        IPEndPoint firstSession = backend.SourceOf(first);
        relay.Relay.SessionCount.Should().Be(1);

        time.Advance(Timeout - TimeSpan.FromSeconds(1));
        relay.Relay.Sweep();
        relay.Relay.SessionCount.Should().Be(1, "the session is not idle for the timeout yet");

        time.Advance(TimeSpan.FromSeconds(5)); // past the timeout and past a sweeper tick
        (await Poll.UntilAsync(() => relay.Relay.SessionCount == 0)).Should().BeTrue("the sweeper closes the idle session");

        byte[] second = Datagrams.Text("second");
        (await Datagrams.RoundTripAsync(client, second)).Should().Equal(second);
        relay.Relay.SessionCount.Should().Be(1);
        backend.SourceOf(second).Port.Should().NotBe(firstSession.Port, "a new session has a new backend socket");
    }

    [Fact]
    public async Task Datagrams_from_the_client_alone_keep_the_session_alive()
    {
        var time = new FakeTimeProvider();
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Loopback, replies: false);
        await using UdpRelayHost relay = Start(backend, time);
        using Socket client = Datagrams.Connect(relay.EndPoint);

        await SendAndSeeArrivalAsync(client, backend, 0);
        for (int round = 1; round <= 3; round++)
        {
            time.Advance(Step);
            relay.Relay.Sweep();
            relay.Relay.SessionCount.Should().Be(1, "the client sent {0} ago", Step);
            await SendAndSeeArrivalAsync(client, backend, round);
        }

        // 60 s of virtual time, twice the timeout, and one session all along.
        backend.Received().Select(d => d.From.Port).Distinct().Should().ContainSingle();

        time.Advance(Timeout + TimeSpan.FromSeconds(5));
        relay.Relay.Sweep();
        relay.Relay.SessionCount.Should().Be(0, "silence both ways for the timeout closes it");
    }

    [Fact]
    public async Task Datagrams_from_the_backend_alone_keep_the_session_alive()
    {
        var time = new FakeTimeProvider();
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Loopback, replies: false);
        await using UdpRelayHost relay = Start(backend, time);
        using Socket client = Datagrams.Connect(relay.EndPoint);

        await SendAndSeeArrivalAsync(client, backend, 0);
        IPEndPoint session = backend.Received()[0].From;
        for (int round = 1; round <= 3; round++)
        {
            time.Advance(Step);
            relay.Relay.Sweep();
            relay.Relay.SessionCount.Should().Be(1, "the backend sent {0} ago", Step);

            // Unsolicited, to the session's backend socket: the relay passes it on to the client.
            byte[] unsolicited = Datagrams.Text($"from the backend {round}");
            await backend.SendToAsync(unsolicited, session);
            (await Datagrams.TryReceiveAsync(client)).Should().Equal(unsolicited);
        }

        backend.Count.Should().Be(1, "the client sent only once");
        time.Advance(Timeout + TimeSpan.FromSeconds(5));
        relay.Relay.Sweep();
        relay.Relay.SessionCount.Should().Be(0, "silence both ways for the timeout closes it");
    }

    private static UdpRelayHost Start(UdpEcho backend, FakeTimeProvider time) =>
        UdpRelayHost.Start(backend.EndPoint, options: new UdpRelayOptions(Timeout, UdpRelayOptions.DefaultMaxSessions), time: time);

    // The relay marks the session used before it forwards, so arrival at the backend means the
    // datagram was accounted for at the current virtual time.
    private static async Task SendAndSeeArrivalAsync(Socket client, UdpEcho backend, int round)
    {
        int before = backend.Count;
        _ = await client.SendAsync(Datagrams.Text($"from the client {round}"), SocketFlags.None).WaitAsync(Datagrams.Patience);
        (await Poll.UntilAsync(() => backend.Count == before + 1)).Should().BeTrue("datagram {0} reaches the backend", round);
    }
}
