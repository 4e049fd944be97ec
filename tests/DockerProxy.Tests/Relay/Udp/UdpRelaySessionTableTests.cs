using System.Net;
using System.Net.Sockets;
using DockerProxy.Relay.Udp;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// The bounded session table: a new client beyond the bound evicts the least recently used
/// session, where a datagram from the client counts as use. Eviction shows at the backend: the
/// evicted client's next datagram comes from a new source port, a kept one's from the same.
/// </summary>
public sealed class UdpRelaySessionTableTests
{
    private const int MaxSessions = 50;

    [Fact]
    public async Task A_full_table_evicts_the_least_recently_used_session()
    {
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Loopback);
        await using UdpRelayHost relay = UdpRelayHost.Start(
            backend.EndPoint, options: new UdpRelayOptions(UdpRelayOptions.DefaultIdleTimeout, MaxSessions));
        Socket[] clients = Enumerable.Range(0, MaxSessions + 1).Select(_ => Datagrams.Connect(relay.EndPoint)).ToArray();
        try
        {
            // One at a time, so the table's order is the clients' order.
            var ports = new int[clients.Length];
            for (int i = 0; i < MaxSessions; i++)
            {
                ports[i] = await BackendPortOfAsync(clients[i], backend, $"{i} opens");
            }

            relay.Relay.SessionCount.Should().Be(MaxSessions);

            // Client 0 is the oldest; using it again leaves client 1 the least recently used.
            (await BackendPortOfAsync(clients[0], backend, "0 again")).Should().Be(ports[0]);

            // A new client: the table is full, and client 1 goes.
            ports[MaxSessions] = await BackendPortOfAsync(clients[MaxSessions], backend, $"{MaxSessions} opens");
            relay.Relay.SessionCount.Should().Be(MaxSessions, "the table stays at its bound");

            (await BackendPortOfAsync(clients[0], backend, "0 third")).Should().Be(ports[0], "the session used recently was kept");
            (await BackendPortOfAsync(clients[2], backend, "2 again")).Should().Be(ports[2], "only one session was evicted");
            (await BackendPortOfAsync(clients[MaxSessions], backend, $"{MaxSessions} again")).Should().Be(ports[MaxSessions]);
            (await BackendPortOfAsync(clients[1], backend, "1 again")).Should().NotBe(ports[1], "the least recently used session was evicted; its client gets a new one");
            relay.Relay.SessionCount.Should().Be(MaxSessions);
        }
        finally
        {
            foreach (Socket client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public void The_table_evicts_in_least_recently_used_order_and_expires_from_the_oldest_end()
    {
        var table = new SessionTable(3);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        UdpSession[] sessions = Enumerable.Range(1, 4).Select(i => NewSession(i, time.GetTimestamp())).ToArray();
        try
        {
            table.Add(sessions[0]).Should().BeNull();
            table.Add(sessions[1]).Should().BeNull();
            table.Add(sessions[2]).Should().BeNull();

            time.Advance(TimeSpan.FromSeconds(10));
            table.Find(sessions[0].Client, time.GetTimestamp()).Should().BeSameAs(sessions[0]);
            table.Add(sessions[3]).Should().BeSameAs(sessions[1], "session 1 is now the least recently used");
            table.Count.Should().Be(3);
            table.Find(sessions[1].Client, time.GetTimestamp()).Should().BeNull();

            // Session 2 was last used at 0 s, sessions 0 and 3 at 10 s.
            time.Advance(TimeSpan.FromSeconds(25));
            table.RemoveIdle(time.GetTimestamp(), TimeSpan.FromSeconds(30), time).Should().Equal(sessions[2]);
            table.Count.Should().Be(2);

            table.Touch(sessions[0], time.GetTimestamp());
            time.Advance(TimeSpan.FromSeconds(10));
            table.RemoveIdle(time.GetTimestamp(), TimeSpan.FromSeconds(30), time).Should().Equal(sessions[3]);
            table.RemoveOldest().Should().BeSameAs(sessions[0]);
            table.RemoveOldest().Should().BeNull();
            table.Count.Should().Be(0);
        }
        finally
        {
            foreach (UdpSession session in sessions)
            {
                session.Close();
            }
        }
    }

    // Table-only sessions: no relay, never watched by the event loop.
    private static UdpSession NewSession(int port, long now) =>
        new(null!, UdpEndpoint.FromIPv4([127, 0, 0, 1], (ushort)port, 0), new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp), now);

    private static async Task<int> BackendPortOfAsync(Socket client, UdpEcho backend, string text)
    {
        byte[] payload = Datagrams.Text(text);
        (await Datagrams.RoundTripAsync(client, payload)).Should().Equal(payload);
        return backend.SourceOf(payload).Port;
    }
}
