using System.Net;
using System.Net.Sockets;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// Many clients at once, each with its own session (one stable backend source port per client, each
/// client sees only its own replies); and an unpaced burst from one client is answered.
/// </summary>
public sealed class UdpRelayLoadTests
{
    [Fact]
    public async Task A_hundred_clients_at_once_each_get_only_their_own_replies_over_their_own_backend_port()
    {
        const int Clients = 100;
        const int PerClient = 5;
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Loopback);
        await using UdpRelayHost relay = UdpRelayHost.Start(backend.EndPoint);
        Socket[] clients = Enumerable.Range(0, Clients).Select(_ => Datagrams.Connect(relay.EndPoint)).ToArray();
        try
        {
            await Task.WhenAll(clients.Select(async (client, i) =>
            {
                for (int k = 0; k < PerClient; k++)
                {
                    _ = await client.SendAsync(Payload(i, k), SocketFlags.None);
                }
            })).WaitAsync(Datagrams.Patience);

            string[][] replies = await Task.WhenAll(clients.Select(client => ReceiveAsync(client, PerClient)));

            for (int i = 0; i < Clients; i++)
            {
                replies[i].Should().BeEquivalentTo(
                    Enumerable.Range(0, PerClient).Select(k => Datagrams.Text(Payload(i, k))),
                    "client {0} gets exactly its own replies", i);
            }

            ReceivedDatagram[] received = backend.Received();
            received.Should().HaveCount(Clients * PerClient);
            var portsByClient = received
                .GroupBy(d => Datagrams.Text(d.Payload).Split(' ')[1])
                .ToDictionary(g => g.Key, g => g.Select(d => d.From.Port).Distinct().ToArray());
            portsByClient.Should().HaveCount(Clients);
            portsByClient.Values.Should().AllSatisfy(ports => ports.Should().ContainSingle("a client's datagrams all leave from its session's port"));
            portsByClient.Values.Select(ports => ports[0]).Distinct().Should().HaveCount(Clients, "each client has its own backend source port");
            relay.Relay.SessionCount.Should().Be(Clients);
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
    public async Task An_unpaced_burst_of_1000_datagrams_is_answered_at_least_99_percent()
    {
        const int Burst = 1000;
        await using UdpEcho backend = UdpEcho.Start(IPAddress.Loopback);
        await using UdpRelayHost relay = UdpRelayHost.Start(backend.EndPoint);
        using Socket client = Datagrams.Connect(relay.EndPoint);
        byte[] payload = new byte[100];

        for (int seq = 0; seq < Burst; seq++)
        {
            BitConverter.TryWriteBytes(payload, seq).Should().BeTrue();
            client.Send(payload).Should().Be(payload.Length);
        }

        // Collect distinct sequence numbers until all came back, or nothing came for a while, or
        // the overall bound ran out.
        var answered = new HashSet<int>();
        long deadline = Environment.TickCount64 + 20_000;
        while (answered.Count < Burst && Environment.TickCount64 < deadline)
        {
            byte[]? reply = await Datagrams.TryReceiveAsync(client, TimeSpan.FromSeconds(2));
            if (reply is null)
            {
                break;
            }

            reply.Should().HaveCount(payload.Length);
            answered.Add(BitConverter.ToInt32(reply));
        }

        answered.Count.Should().BeGreaterThanOrEqualTo(Burst * 99 / 100, "the relay's buffers take a burst");
        answered.Should().OnlyContain(seq => seq >= 0 && seq < Burst);
    }

    private static byte[] Payload(int client, int k) => Datagrams.Text($"client {client:D3} datagram {k}");

    private static async Task<string[]> ReceiveAsync(Socket client, int count)
    {
        var replies = new List<string>();
        long deadline = Environment.TickCount64 + (long)Datagrams.Patience.TotalMilliseconds;
        while (replies.Count < count && Environment.TickCount64 < deadline)
        {
            byte[]? reply = await Datagrams.TryReceiveAsync(client, TimeSpan.FromMilliseconds(Math.Max(1, deadline - Environment.TickCount64)));
            if (reply is null)
            {
                break;
            }

            replies.Add(Datagrams.Text(reply));
        }

        return [.. replies];
    }
}
