using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Service;

/// <summary>-drain-timeout: on SIGTERM stop accepting, let open connections finish up to the deadline, exit 0.</summary>
[Trait("Category", "Process")]
public sealed class DrainTests
{
    private const int FourMiB = 4 * 1024 * 1024;

    [SkippableFact]
    public async Task A_download_in_progress_finishes_intact_while_new_connections_are_refused_then_exit_0()
    {
        // 4 MiB in 64 KiB chunks 25 ms apart, held after the first chunk until new connections
        // are refused: then about 1.6 s, well inside the 10 s drain.
        await using var source = new PacedSource(FourMiB, 64 * 1024, TimeSpan.FromMilliseconds(25), held: true);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, source.EndPoint, "-drain-timeout", "10s"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket client = await Peers.ConnectAsync(host);
        byte[] first = await Peers.ReadExactlyAsync(client, 64 * 1024);
        Task<byte[]> rest = Peers.ReadToEndAsync(client, TimeSpan.FromSeconds(20));

        proxy.Signal(Posix.SigTerm);
        (await RefusedSoonAsync(host)).Should().BeTrue("a draining proxy accepts no new connection");
        proxy.HasExited.Should().BeFalse("the proxy waits for the open download");
        source.Release();

        byte[] all = [.. first, .. await rest];
        all.Length.Should().Be(FourMiB);
        all.AsSpan().SequenceEqual(source.Payload).Should().BeTrue("the drained download arrives intact");
        (await proxy.WaitForExitAsync(TimeSpan.FromSeconds(10))).Should().Be(0);
    }

    [SkippableFact]
    public async Task With_many_mappings_every_listener_closes_and_a_download_in_progress_finishes_intact()
    {
        await using var source = new PacedSource(FourMiB, 64 * 1024, TimeSpan.FromMilliseconds(25), held: true);
        var first = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        var second = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, [
            "-map", $"tcp:127.0.0.1:{first.Port}:127.0.0.1:{source.EndPoint.Port}",
            "-map", $"tcp:127.0.0.1:{second.Port}:127.0.0.1:{source.EndPoint.Port}",
            "-drain-timeout", "10s"]);
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket client = await Peers.ConnectAsync(second);
        byte[] head = await Peers.ReadExactlyAsync(client, 64 * 1024);
        Task<byte[]> rest = Peers.ReadToEndAsync(client, TimeSpan.FromSeconds(20));

        proxy.Signal(Posix.SigTerm);
        (await RefusedSoonAsync(first)).Should().BeTrue("every mapping of a draining set stops accepting");
        (await RefusedSoonAsync(second)).Should().BeTrue("every mapping of a draining set stops accepting");
        proxy.HasExited.Should().BeFalse("the set waits for the open download");
        source.Release();

        byte[] all = [.. head, .. await rest];
        all.AsSpan().SequenceEqual(source.Payload).Should().BeTrue("the drained download arrives intact");
        (await proxy.WaitForExitAsync(TimeSpan.FromSeconds(10))).Should().Be(0);
    }

    [SkippableFact]
    public async Task A_download_longer_than_the_deadline_is_cut_at_it_and_the_proxy_exits_0()
    {
        // 4 MiB in 64 KiB chunks 150 ms apart: about 10 s, far past the 1 s drain.
        await using var source = new PacedSource(FourMiB, 64 * 1024, TimeSpan.FromMilliseconds(150));
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, source.EndPoint, "-drain-timeout", "1s"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket client = await Peers.ConnectAsync(host);
        _ = await Peers.ReadExactlyAsync(client, 64 * 1024);
        proxy.Signal(Posix.SigTerm);

        // The exit comes at the deadline, long before the download could have finished.
        (await proxy.WaitForExitAsync()).Should().Be(0);
        long received = 64 * 1024 + await ReadUntilCutAsync(client);
        received.Should().BeLessThan(FourMiB, "the connection was cut at the deadline");
    }

    [SkippableFact]
    public async Task Without_the_flag_a_stop_signal_cuts_open_connections_at_once()
    {
        await using var source = new PacedSource(FourMiB, 64 * 1024, TimeSpan.FromMilliseconds(150));
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, source.EndPoint));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket client = await Peers.ConnectAsync(host);
        _ = await Peers.ReadExactlyAsync(client, 64 * 1024);
        proxy.Signal(Posix.SigInt);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        (64 * 1024 + await ReadUntilCutAsync(client)).Should().BeLessThan(FourMiB);
    }

    [SkippableFact]
    public async Task A_second_signal_during_the_drain_ends_it_at_once()
    {
        await using var source = new PacedSource(FourMiB, 64 * 1024, TimeSpan.FromMilliseconds(150));
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, source.EndPoint, "-drain-timeout", "60s"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket client = await Peers.ConnectAsync(host);
        _ = await Peers.ReadExactlyAsync(client, 64 * 1024);
        proxy.Signal(Posix.SigTerm);
        (await RefusedSoonAsync(host)).Should().BeTrue();
        await Task.Delay(TimeSpan.FromMilliseconds(1200)); // past the window in which repeats count as one
        proxy.HasExited.Should().BeFalse("the drain is still waiting for the download");
        proxy.Signal(Posix.SigInt);
        (await proxy.WaitForExitAsync(TimeSpan.FromSeconds(5))).Should().Be(0);
    }

    // Connects until refused: the listener closes right after the signal is handled. A probe whose
    // handshake the kernel completed just before the close, still in the accept queue, is reset
    // by the close (ECONNRESET, sometimes already from connect): not accepted either, so the
    // probing goes on until a connection is refused outright.
    private static async Task<bool> RefusedSoonAsync(IPEndPoint host)
    {
        for (int i = 0; i < 200; i++)
        {
            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await probe.ConnectAsync(host).WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return true;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                // Caught in the accept queue by the close: probe again.
            }

            await Task.Delay(10);
        }

        return false;
    }

    // Bytes read until EOF or reset.
    private static async Task<long> ReadUntilCutAsync(Socket client)
    {
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                int n = await client.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    return total;
                }

                total += n;
            }
        }
        catch (SocketException)
        {
            return total;
        }
    }
}
