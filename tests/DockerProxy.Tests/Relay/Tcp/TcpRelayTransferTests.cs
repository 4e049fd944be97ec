using System.Net;
using System.Net.Sockets;
using System.Text;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>Data through an in-process <c>TcpRelay</c>: echo, bulk both ways at once, many connections, IPv6 to IPv4.</summary>
public sealed class TcpRelayTransferTests
{
    private static readonly TimeSpan Bulk = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task Echoes_round_trips_then_ends_cleanly(string copyMode)
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(backend.EndPoint, copyMode);
        using Socket client = await Peers.ConnectAsync(relay.EndPoint);

        for (int i = 0; i < 3; i++)
        {
            byte[] message = Encoding.ASCII.GetBytes($"hello #{i}");
            await Wire.SendAllAsync(client, message);
            (await Peers.ReadExactlyAsync(client, message.Length)).Should().Equal(message);
        }

        client.Shutdown(SocketShutdown.Send);
        (await Peers.ReadToEndAsync(client)).Should().BeEmpty("the echo ends with a FIN once it saw ours");
        backend.Accepted.Should().Be(1);
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task Carries_64_MiB_each_way_at_once_intact(string copyMode)
    {
        const long Size = 64L * 1024 * 1024;
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(Wire.EndPointOf(backendListener), copyMode);
        (Socket client, Socket backend) = await relay.ConnectThroughAsync(backendListener);
        using (client)
        using (backend)
        {
            using var cts = new CancellationTokenSource(Bulk);
            Task<byte[]> clientSent = Task.Run(() => Wire.SendSeededAsync(client, seed: 1, Size, cts.Token));
            Task<byte[]> backendSent = Task.Run(() => Wire.SendSeededAsync(backend, seed: 2, Size, cts.Token));
            Task<(long Count, byte[] Hash)> backendReceived = Task.Run(() => Wire.ReceiveHashedAsync(backend, cts.Token));
            Task<(long Count, byte[] Hash)> clientReceived = Task.Run(() => Wire.ReceiveHashedAsync(client, cts.Token));
            await Task.WhenAll(clientSent, backendSent, backendReceived, clientReceived).WaitAsync(Bulk);

            (await backendReceived).Count.Should().Be(Size);
            (await backendReceived).Hash.Should().Equal(await clientSent, "the backend receives exactly what the client sent");
            (await clientReceived).Count.Should().Be(Size);
            (await clientReceived).Hash.Should().Equal(await backendSent, "the client receives exactly what the backend sent");
        }
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task Small_messages_to_a_reader_that_stalls_arrive_intact_and_in_order(string copyMode)
    {
        // Messages smaller than the relay's small-message buffer, sent one at a time a little
        // apart (no Nagle), so that the relay takes them one by one, while the backend does not
        // read: the destination fills, some message can then be sent on only in part, and the
        // rest must wait until the backend reads again.
        const int Messages = 60_000;
        const int MessageSize = 100;
        const long GapTicks = TimeSpan.TicksPerMillisecond / 50; // 20 µs between messages
        const long BlockedBytes = 32 * 1024;
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        backendListener.ReceiveBufferSize = 4096; // inherited by the accepted socket: it fills soon
        await using RelayHost relay = RelayHost.Start(Wire.EndPointOf(backendListener), copyMode);
        (Socket client, Socket backend) = await relay.ConnectThroughAsync(backendListener);
        using (client)
        using (backend)
        {
            client.NoDelay = true;
            client.SendBufferSize = 4096; // the sender is held up soon after the relay is
            client.SendTimeout = (int)Bulk.TotalMilliseconds;
            byte[] all = Wire.Seeded(7, Messages * MessageSize);

            // A task, not a bare thread: a send that fails (the relay stalled past the timeout, or
            // the socket was disposed when the test failed first) fails this test, not the host.
            Task sender = Task.Factory.StartNew(
                () =>
                {
                    for (int i = 0; i < Messages; i++)
                    {
                        client.Send(all, i * MessageSize, MessageSize, SocketFlags.None);
                        long until = System.Diagnostics.Stopwatch.GetTimestamp() + (GapTicks * System.Diagnostics.Stopwatch.Frequency / TimeSpan.TicksPerSecond);
                        while (System.Diagnostics.Stopwatch.GetTimestamp() < until)
                        {
                            Thread.SpinWait(10);
                        }
                    }

                    client.Shutdown(SocketShutdown.Send);
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);

            // Wait until the relay has stopped reading from the client because the backend cannot
            // take more: bytes pile up unread on the proxy's client leg (it reads whatever arrives
            // within microseconds otherwise) while its backend leg holds unacknowledged bytes.
            // Only then does the backend read. Seen in the kernel's queues, not in how far the
            // sender got: how much the buffers on the way absorb first depends on the kernel's
            // autotuning (tcp_rmem allows 32 MiB on some hosts).
            var clientLeg = (Local: (IPEndPoint)client.RemoteEndPoint!, Remote: (IPEndPoint)client.LocalEndPoint!);
            var backendLeg = (Local: (IPEndPoint)backend.RemoteEndPoint!, Remote: (IPEndPoint)backend.LocalEndPoint!);
            // Held up in ten readings in a row (half a second): a relay only slow to read, or one
            // still filling a splice pipe, catches up in between.
            bool HeldUp() => TcpTable.QueuesOf(clientLeg.Local, clientLeg.Remote)?.Rx >= BlockedBytes && TcpTable.QueuesOf(backendLeg.Local, backendLeg.Remote)?.Tx > 0;
            int inARow = 0;
            (await Poll.UntilAsync(() => (inARow = HeldUp() ? inARow + 1 : 0) >= 10, Bulk)).Should().BeTrue(
                "the relay must be held up by the full backend before it reads (client leg {0}, backend leg {1})",
                TcpTable.QueuesOf(clientLeg.Local, clientLeg.Remote), TcpTable.QueuesOf(backendLeg.Local, backendLeg.Remote));
            using var cts = new CancellationTokenSource(Bulk);
            (long count, byte[] hash) = await Wire.ReceiveHashedAsync(backend, cts.Token).WaitAsync(Bulk);
            await sender.WaitAsync(Bulk);

            count.Should().Be(all.Length);
            hash.Should().Equal(System.Security.Cryptography.SHA256.HashData(all), "every message arrives, whole and in order");
        }
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task Relays_200_concurrent_connections_each_with_its_own_64_KiB_intact(string copyMode)
    {
        const int Connections = 200;
        const int Size = 64 * 1024;
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(backend.EndPoint, copyMode);
        byte[][] payloads = [.. Enumerable.Range(0, Connections).Select(i => Wire.Seeded(1000 + i, Size))];

        using var cts = new CancellationTokenSource(Bulk);
        byte[][] echoed = await Task.WhenAll(Enumerable.Range(0, Connections)
            .Select(i => Task.Run(() => EchoAsync(relay.EndPoint, payloads[i], cts.Token)))).WaitAsync(Bulk);

        int[] corrupted = [.. Enumerable.Range(0, Connections).Where(i => !echoed[i].AsSpan().SequenceEqual(payloads[i]))];
        corrupted.Should().BeEmpty("every connection gets back exactly its own payload");
        backend.Accepted.Should().Be(Connections);
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task An_IPv6_front_relays_to_an_IPv4_backend(string copyMode)
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(backend.EndPoint, copyMode, IPAddress.IPv6Loopback);
        relay.EndPoint.Address.Should().Be(IPAddress.IPv6Loopback);

        using Socket client = await Peers.ConnectAsync(relay.EndPoint);
        byte[] message = Wire.Seeded(6, 100_000);
        Task<byte[]> echoed = Peers.ReadToEndAsync(client);
        await Wire.SendAllAsync(client, message);
        client.Shutdown(SocketShutdown.Send);
        (await echoed).Should().Equal(message);
        backend.Accepted.Should().Be(1);
    }

    private static async Task<byte[]> EchoAsync(IPEndPoint relay, byte[] payload, CancellationToken cancellationToken)
    {
        using Socket client = await Peers.ConnectAsync(relay);
        Task<byte[]> echoed = Peers.ReadToEndAsync(client, Bulk);
        await Wire.SendAllAsync(client, payload, cancellationToken);
        client.Shutdown(SocketShutdown.Send);
        return await echoed;
    }
}
