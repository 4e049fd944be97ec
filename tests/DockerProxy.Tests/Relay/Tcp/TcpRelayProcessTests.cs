using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>
/// The TCP relay in the published binary, started as dockerd starts it: memory under a stalled
/// reader, and the pair of 0.0.0.0 and :: proxies dockerd starts for one published port.
/// </summary>
[Trait("Category", "Process")]
public sealed class TcpRelayProcessTests
{
    private static readonly IPAddress Loopback = IPAddress.Loopback;
    private static readonly TimeSpan Bulk = TimeSpan.FromSeconds(30);

    [SkippableTheory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task A_fast_sender_to_a_stalled_reader_keeps_the_proxy_memory_bounded_and_loses_nothing(string copyMode)
    {
        const long Size = 256L * 1024 * 1024;
        const long MaxGrowthKib = 32 * 1024; // pipelines pause at 128 KiB, splice holds bytes in a kernel pipe; the rest waits in socket buffers
        using Socket backendListener = Peers.Listen(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await OursProxy.StartReadyAsync(host, Wire.EndPointOf(backendListener), copyMode);
        (Socket client, Socket backend) = await RelayHost.ConnectThroughAsync(host, backendListener);
        using (client)
        using (backend)
        {
            await Wire.SendAllAsync(client, "ping"u8.ToArray());
            (await Peers.ReadExactlyAsync(backend, 4)).Should().Equal("ping"u8.ToArray());
            long idleKib = proxy.PrivateKib();

            using var cts = new CancellationTokenSource(Bulk);
            long sent = 0;
            Task<byte[]> sender = Task.Run(() => Wire.SendSeededAsync(client, 10, Size, cts.Token, n => Volatile.Write(ref sent, n)));

            // Sample the proxy's memory while the buffers fill up and once the sender has stalled
            // (no progress for 20 samples in a row); 50 ms steps, 20 s at most.
            long peakKib = idleKib;
            long last = -1;
            int unchanged = 0;
            for (int i = 0; i < 400 && unchanged < 20; i++)
            {
                await Task.Delay(50);
                peakKib = Math.Max(peakKib, proxy.PrivateKib());
                long now = Volatile.Read(ref sent);
                unchanged = now == last ? unchanged + 1 : 0;
                last = now;
            }

            unchanged.Should().Be(20, "a backend that does not read stalls the sender");
            Volatile.Read(ref sent).Should().BeLessThan(Size, "TCP flow control pushes back on the client; the proxy does not take it all in");
            (peakKib - idleKib).Should().BeLessThan(MaxGrowthKib, "the proxy holds at most a pipe's worth per direction");
            proxy.HasExited.Should().BeFalse();

            // Now the backend reads everything, and all of it arrived.
            (long count, byte[] hash) = await Wire.ReceiveHashedAsync(backend, cts.Token).WaitAsync(Bulk);
            count.Should().Be(Size);
            hash.Should().Equal(await sender.WaitAsync(Bulk));
        }
    }

    [SkippableFact]
    public async Task Proxies_on_0_0_0_0_and_on_IPv6_any_share_one_port_and_each_relays()
    {
        Binaries.Path(Binaries.Ours); // skip before binding anything when the binary is missing
        await using EchoServer v4Backend = Peers.Echo(Loopback);
        await using EchoServer v6Backend = Peers.Echo(Loopback);
        int port = FreeOnBothFamilies();

        await using SpawnedProcess v4 = await ProxyRun.StartReadyAsync(Binaries.Ours, new IPEndPoint(IPAddress.Any, port), v4Backend.EndPoint);
        await using SpawnedProcess v6 = await ProxyRun.StartReadyAsync(Binaries.Ours, new IPEndPoint(IPAddress.IPv6Any, port), v6Backend.EndPoint);

        (await EchoOnceAsync(new IPEndPoint(Loopback, port), "over IPv4"u8.ToArray())).Should().Equal("over IPv4"u8.ToArray());
        v4Backend.Accepted.Should().Be(1, "127.0.0.1 reaches the 0.0.0.0 proxy");
        v6Backend.Accepted.Should().Be(0);

        (await EchoOnceAsync(new IPEndPoint(IPAddress.IPv6Loopback, port), "over IPv6"u8.ToArray())).Should().Equal("over IPv6"u8.ToArray());
        v6Backend.Accepted.Should().Be(1, "::1 reaches the :: proxy, which is v6-only");
        v4Backend.Accepted.Should().Be(1);

        v4.HasExited.Should().BeFalse();
        v6.HasExited.Should().BeFalse();
    }

    [SkippableFact]
    public async Task A_proxy_on_IPv6_loopback_relays_to_an_IPv4_backend()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(IPAddress.IPv6Loopback, Peers.FreePort(IPAddress.IPv6Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, backend.EndPoint);

        byte[] message = Wire.Seeded(64, 256 * 1024);
        (await EchoOnceAsync(host, message)).AsSpan().SequenceEqual(message).Should().BeTrue();
        backend.Accepted.Should().Be(1);
    }

    private static async Task<byte[]> EchoOnceAsync(IPEndPoint host, byte[] message)
    {
        using Socket client = await Peers.ConnectAsync(host);
        Task<byte[]> echoed = Peers.ReadToEndAsync(client);
        await Wire.SendAllAsync(client, message);
        client.Shutdown(SocketShutdown.Send);
        return await echoed;
    }

    // A port free on 0.0.0.0 and on :: (v6-only) a moment ago.
    private static int FreeOnBothFamilies()
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            int port = Peers.FreePort(IPAddress.Any);
            using var v6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = false };
            try
            {
                v6.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
                return port;
            }
            catch (SocketException)
            {
                // Taken on IPv6: try another.
            }
        }

        throw new InvalidOperationException("no port free on both 0.0.0.0 and ::");
    }
}
