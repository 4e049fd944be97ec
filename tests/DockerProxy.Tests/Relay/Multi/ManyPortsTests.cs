using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Multi;

/// <summary>One process, many ports: ranges of TCP and UDP mappings, each relaying to its own backend port.</summary>
[Trait("Category", "Process")]
[Collection(ManyPortsGroup.Name)]
public sealed class ManyPortsTests
{
    private const int Ports = 1000;

    [SkippableFact]
    public async Task A_thousand_TCP_and_a_thousand_UDP_ports_each_reach_their_own_backend()
    {
        IPAddress address = PortRange.PrivateLoopback();
        List<Socket> tcpBackends = PortRange.Bind(address, Ports, SocketType.Stream);
        List<Socket> udpBackends = PortRange.Bind(address, Ports, SocketType.Dgram);
        try
        {
            int tcpBackend = PortRange.FirstPort(tcpBackends);
            int udpBackend = PortRange.FirstPort(udpBackends);
            int tcpHost = PortRange.Free(address, Ports, tcpBackend, tcpBackend + Ports - 1);
            int udpHost = PortRange.Free(address, Ports, udpBackend, udpBackend + Ports - 1, SocketType.Dgram);
            string[] args =
            [
                "-map", Map("tcp", address, tcpHost, tcpBackend),
                "-map", Map("udp", address, udpHost, udpBackend),
            ];
            await using SpawnedProcess proxy = await MultiProxy.StartReadyAsync(args);

            // TCP: each host port's connection arrives at the backend listener of the same index,
            // carrying that index; its answer comes back. 50 at a time.
            await ForEachAsync(Ports, 50, async i =>
            {
                using Socket client = await Peers.ConnectAsync(new IPEndPoint(address, tcpHost + i));
                await client.SendAsync(Number(i), SocketFlags.None);
                using Socket backend = await tcpBackends[i].AcceptAsync().WaitAsync(Peers.Patience);
                (await Peers.ReadExactlyAsync(backend, 4)).Should().Equal(Number(i), "port {0} relays to backend port {1}", tcpHost + i, tcpBackend + i);
                await backend.SendAsync(Number(i + 1_000_000), SocketFlags.None);
                (await Peers.ReadExactlyAsync(client, 4)).Should().Equal(Number(i + 1_000_000));
            });

            // UDP: a datagram to each host port reaches the backend of the same index, and the
            // backend's reply comes back from that host port. In rounds of 50, so that no socket
            // buffer on the way overflows.
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            client.Bind(new IPEndPoint(address, 0));
            for (int start = 0; start < Ports; start += 50)
            {
                int end = Math.Min(Ports, start + 50);
                for (int i = start; i < end; i++)
                {
                    await client.SendToAsync(Number(i), new IPEndPoint(address, udpHost + i));
                }

                for (int i = start; i < end; i++)
                {
                    byte[] datagram = new byte[16];
                    using var timeout = new CancellationTokenSource(Peers.Patience);
                    SocketReceiveFromResult got = await udpBackends[i].ReceiveFromAsync(datagram, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
                    datagram.AsSpan(0, got.ReceivedBytes).ToArray().Should().Equal(Number(i), "UDP port {0} relays to backend port {1}", udpHost + i, udpBackend + i);
                    await udpBackends[i].SendToAsync(Number(i + 2_000_000), got.RemoteEndPoint);
                }

                var replies = new Dictionary<int, int>();
                for (int i = start; i < end; i++)
                {
                    byte[] datagram = new byte[16];
                    using var timeout = new CancellationTokenSource(Peers.Patience);
                    SocketReceiveFromResult got = await client.ReceiveFromAsync(datagram, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
                    replies[((IPEndPoint)got.RemoteEndPoint).Port] = BinaryPrimitives.ReadInt32BigEndian(datagram);
                }

                replies.Should().BeEquivalentTo(Enumerable.Range(start, end - start).ToDictionary(i => udpHost + i, i => i + 2_000_000),
                    "each reply comes back from the host port its datagram was sent to");
            }

            proxy.Signal(Posix.SigInt);
            (await proxy.WaitForExitAsync()).Should().Be(0);
        }
        finally
        {
            tcpBackends.ForEach(s => s.Dispose());
            udpBackends.ForEach(s => s.Dispose());
        }
    }

    internal static string Map(string proto, IPAddress address, int host, int container, int count = Ports) =>
        string.Create(CultureInfo.InvariantCulture, $"{proto}:{address}:{host}-{host + count - 1}:{address}:{container}-{container + count - 1}");

    private static byte[] Number(int value)
    {
        byte[] bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }

    private static async Task ForEachAsync(int count, int parallel, Func<int, Task> body)
    {
        using var gate = new SemaphoreSlim(parallel);
        var tasks = new List<Task>(count);
        for (int i = 0; i < count; i++)
        {
            await gate.WaitAsync();
            int index = i;
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await body(index);
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        await Task.WhenAll(tasks);
    }
}
