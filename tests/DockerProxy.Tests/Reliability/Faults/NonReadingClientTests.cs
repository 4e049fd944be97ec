using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Relay.Tcp;
using DockerProxy.Tests.Support;
using Xunit.Abstractions;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>
/// A hostile client that never reads while the backend floods it with 64 MiB as fast as it can:
/// the published binary's private memory stays bounded (TCP flow control pushes back on the
/// backend), other clients are served meanwhile, and once the client closes the flood ends and the
/// proxy holds no more fds than at idle.
/// </summary>
[Trait("Category", "Process")]
public sealed class NonReadingClientTests(ITestOutputHelper output)
{
    private const long Flood = 64L * 1024 * 1024;
    private const long MaxGrowthKib = 32 * 1024;
    private static readonly IPAddress Loopback = IPAddress.Loopback;
    private static readonly TimeSpan Bulk = TimeSpan.FromSeconds(30);

    [SkippableTheory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task A_client_that_never_reads_a_flood_keeps_the_proxy_memory_bounded_and_others_served(string copyMode)
    {
        Binaries.Path(Binaries.Ours);
        await using ScriptedBackend backend = ScriptedBackend.Start();
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await OursProxy.StartReadyAsync(host, backend.EndPoint, copyMode);
        await Serving.WarmUpAsync(host);
        FdSnapshot idle = await ProxyFds.SettledAsync(proxy);
        long idleKib = proxy.PrivateKib();

        long flooded = 0;
        ArmedConnection flooder = backend.Arm(async (connection, stop) =>
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
            bound.CancelAfter(Bulk);
            try
            {
                await Wire.SendSeededAsync(connection, 21, Flood, bound.Token, n => Volatile.Write(ref flooded, n));
            }
            catch (SocketException)
            {
                // The proxy closed its leg: the flood has nowhere to go.
            }
        });

        using (Socket reader = await Peers.ConnectAsync(host))
        {
            await flooder.Accepted.WaitAsync(Peers.Patience);

            // Others are served while the flood fills every buffer on its way...
            Task others = Task.Run(() => Serving.EchoSeveralAsync(host, 1, 10));

            // ...sampled every 50 ms until the flood has stalled (no progress for 20 samples; 20 s at most).
            long peakKib = idleKib;
            long last = -1;
            int unchanged = 0;
            for (int i = 0; i < 400 && unchanged < 20; i++)
            {
                await Task.Delay(50);
                peakKib = Math.Max(peakKib, proxy.PrivateKib());
                long now = Volatile.Read(ref flooded);
                unchanged = now == last ? unchanged + 1 : 0;
                last = now;
            }

            await others.WaitAsync(Bulk);
            output.WriteLine($"flood stalled after {Volatile.Read(ref flooded) / 1024} KiB; proxy private memory {idleKib} KiB at idle, {peakKib} KiB at the peak");
            unchanged.Should().Be(20, "a client that does not read stalls the flood");
            Volatile.Read(ref flooded).Should().BeLessThan(Flood, "TCP flow control pushes back on the backend; the proxy does not take it all in");
            (peakKib - idleKib).Should().BeLessThan(MaxGrowthKib, "the proxy holds at most a pipe's worth of the flood");

            // ...and once it has stalled.
            await Serving.EchoSeveralAsync(host, 20, 5);
            proxy.HasExited.Should().BeFalse();
            reader.Available.Should().BeGreaterThan(0, "the flood did reach the client, which just never read it");
        }

        // The client left with unread data (a reset): the proxy lets go of the backend leg too.
        await flooder.Finished.WaitAsync(Peers.Patience);
        FdSnapshot after = await ProxyFds.BackToAsync(proxy, idle, Peers.Patience);
        output.WriteLine($"fds at idle: {idle.Count} ({idle.Summary()}); after: {after.Count} ({after.Summary()})");
        after.Count.Should().BeLessThanOrEqualTo(idle.Count, "the flood's sockets and pipe are closed (idle: {0}; now: {1})", idle.Summary(), after.Summary());
        await Serving.EchoOnceAsync(host, 50);
        proxy.HasExited.Should().BeFalse();
    }
}
