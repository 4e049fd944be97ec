using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability;

/// <summary>
/// Every fd and buffer is given back: after 10,000 TCP connections and 10,000 UDP sessions have come
/// and gone, the proxy's open fds are back at their idle level and its private memory within a
/// small margin of it.
/// </summary>
[Trait("Category", "Process")]
public sealed class LeakTests
{
    private const int Flows = 10_000;
    private const int Batch = 50;
    private const long MemoryMarginKib = 6 * 1024;

    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableFact]
    public async Task Ten_thousand_TCP_connections_leave_no_fd_and_no_memory_behind()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, backend.EndPoint);

        await TcpRoundsAsync(host, 500); // warm up: pools, the GC's first heap growth
        (int idleFds, long idleKib) = await SettledAsync(proxy, expectedFds: null);

        await TcpRoundsAsync(host, Flows);
        (int fds, long kib) = await SettledAsync(proxy, expectedFds: idleFds);

        fds.Should().BeLessThanOrEqualTo(idleFds);
        kib.Should().BeLessThanOrEqualTo(idleKib + MemoryMarginKib);
    }

    [SkippableFact]
    public async Task Ten_thousand_UDP_sessions_leave_no_fd_and_no_memory_behind_once_expired()
    {
        using var backend = new UdpEchoPeer(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreeUdpPort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("udp", host, backend.EndPoint, "-udp-timeout", "1s"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        await UdpRoundsAsync(host, 500);
        (int idleFds, long idleKib) = await SettledAsync(proxy, expectedFds: null, settle: TimeSpan.FromSeconds(3));

        await UdpRoundsAsync(host, Flows);
        (int fds, long kib) = await SettledAsync(proxy, expectedFds: idleFds, settle: TimeSpan.FromSeconds(3));

        fds.Should().BeLessThanOrEqualTo(idleFds, "every expired session's socket is closed");
        kib.Should().BeLessThanOrEqualTo(idleKib + MemoryMarginKib);
    }

    private static async Task TcpRoundsAsync(IPEndPoint host, int count)
    {
        byte[] payload = new byte[100];
        for (int done = 0; done < count; done += Batch)
        {
            await Task.WhenAll(Enumerable.Range(0, Math.Min(Batch, count - done)).Select(async _ =>
            {
                using Socket client = await Peers.ConnectAsync(host);
                await client.SendAsync(payload, SocketFlags.None);
                client.Shutdown(SocketShutdown.Send);
                (await Peers.ReadToEndAsync(client)).Length.Should().Be(payload.Length);
            }));
        }
    }

    private static async Task UdpRoundsAsync(IPEndPoint host, int count)
    {
        byte[] payload = new byte[64];
        byte[] reply = new byte[256];
        for (int done = 0; done < count; done += Batch)
        {
            await Task.WhenAll(Enumerable.Range(0, Math.Min(Batch, count - done)).Select(async _ =>
            {
                using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                client.Connect(host); // a new source port: a new session
                for (int attempt = 0; attempt < 5; attempt++)
                {
                    await client.SendAsync(payload, SocketFlags.None);
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    try
                    {
                        int n = await client.ReceiveAsync(reply, SocketFlags.None, wait.Token);
                        n.Should().Be(payload.Length);
                        return;
                    }
                    catch (OperationCanceledException)
                    {
                        // lost under load: send again (bounded)
                    }
                }

                throw new TimeoutException("no reply after 5 tries");
            }));
        }
    }

    // Waits (bounded) until the fd count is back at the expected level, or, for the idle baseline,
    // until it has stopped changing (four equal readings 100 ms apart: no warm-up flow still
    // closing, which would let the baseline hide a leak of as many fds); then reads fds and
    // private memory.
    private static async Task<(int Fds, long Kib)> SettledAsync(SpawnedProcess proxy, int? expectedFds, TimeSpan? settle = null)
    {
        await Task.Delay(settle ?? TimeSpan.FromMilliseconds(500));
        int fds = proxy.OpenFdCount();
        int same = 0;
        for (int i = 0; i < 100; i++)
        {
            bool settled = expectedFds is int expected ? fds <= expected : same >= 3;
            if (settled)
            {
                break;
            }

            await Task.Delay(100);
            int now = proxy.OpenFdCount();
            same = now == fds ? same + 1 : 0;
            fds = now;
        }

        return (fds, proxy.PrivateKib());
    }

    /// <summary>A UDP echo on its own thread (blocking), answering each datagram to its sender.</summary>
    private sealed class UdpEchoPeer : IDisposable
    {
        private readonly Socket _socket;
        private readonly Thread _thread;

        internal UdpEchoPeer(IPAddress address)
        {
            _socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            _socket.Bind(new IPEndPoint(address, 0));
            EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
            _thread = new Thread(Run) { IsBackground = true };
            _thread.Start();
        }

        internal IPEndPoint EndPoint { get; }

        public void Dispose()
        {
            _socket.Dispose();
            _thread.Join(TimeSpan.FromSeconds(5));
        }

        private void Run()
        {
            byte[] buffer = new byte[65536];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            try
            {
                while (true)
                {
                    int n = _socket.ReceiveFrom(buffer, ref from);
                    _socket.SendTo(buffer, n, SocketFlags.None, from);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // closed
            }
        }
    }
}
