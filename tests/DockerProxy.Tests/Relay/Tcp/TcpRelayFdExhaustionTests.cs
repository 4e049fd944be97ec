using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>
/// The published binary out of file descriptors (RLIMIT_NOFILE lowered under it with prlimit): it
/// can no longer accept or dial, but unlike the original (which exits, moby#6402) it survives,
/// backs off, and serves again once fds are available.
/// </summary>
[Trait("Category", "Process")]
public sealed class TcpRelayFdExhaustionTests
{
    private const int SpareFds = 6; // three relayed connections (two fds each)
    private const int MaxConnections = 20;
    private static readonly IPAddress Loopback = IPAddress.Loopback;
    private static readonly TimeSpan Probe = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(10);

    [SkippableFact]
    public async Task Out_of_fds_it_survives_and_serves_again_once_the_connections_are_closed()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, backend.EndPoint);
        var clients = new List<Socket>();
        try
        {
            await StarveAsync(proxy, host, clients);

            foreach (Socket client in clients)
            {
                client.Dispose();
            }

            clients.Clear();
            (await ServedWithinAsync(host, Recovery)).Should().BeTrue("a new connection is relayed once the fds are free again");
            proxy.HasExited.Should().BeFalse();
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    [SkippableFact]
    public async Task Out_of_fds_it_serves_again_once_the_limit_is_raised_with_every_connection_still_open()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, backend.EndPoint);
        var clients = new List<Socket>();
        try
        {
            int served = await StarveAsync(proxy, host, clients);

            long hard = HardOpenFileLimit(proxy.Pid);
            proxy.SetOpenFileLimit(hard < 0 ? 4096 : Math.Min(4096, hard), hard);
            (await ServedWithinAsync(host, Recovery)).Should().BeTrue("a new connection is relayed once the limit was raised");

            for (int i = 0; i < served; i++)
            {
                (await IsServedAsync(clients[i], Probe)).Should().BeTrue("connection {0}, served before the fds ran out, still relays", i);
            }

            proxy.HasExited.Should().BeFalse();
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    /// <summary>
    /// Lowers the proxy's fd limit to a few above what it uses idle, then opens connections until
    /// one is not served; returns how many were (the first ones in clients).
    /// </summary>
    private static async Task<int> StarveAsync(SpawnedProcess proxy, IPEndPoint host, List<Socket> clients)
    {
        // A first connection, so that whatever the runtime opens lazily is already open.
        (await ServedWithinAsync(host, Recovery)).Should().BeTrue("the proxy relays before the limit is lowered");
        int idleFds = await SettledFdCountAsync(proxy);
        proxy.SetOpenFileLimit(idleFds + SpareFds, HardOpenFileLimit(proxy.Pid));

        for (int i = 0; i < MaxConnections; i++)
        {
            Socket client = await Peers.ConnectAsync(host); // the kernel completes it even while the proxy cannot accept
            clients.Add(client);
            if (!await IsServedAsync(client, Probe))
            {
                proxy.HasExited.Should().BeFalse("running out of fds must not end the proxy");
                return i;
            }
        }

        throw new InvalidOperationException($"{MaxConnections} connections were all served with an fd limit of {idleFds + SpareFds}");
    }

    /// <summary>Whether a ping is echoed back within timeout (false on timeout, EOF or reset).</summary>
    private static async Task<bool> IsServedAsync(Socket client, TimeSpan timeout)
    {
        try
        {
            await Wire.SendAllAsync(client, "ping"u8.ToArray());
            return (await Peers.ReadExactlyAsync(client, 4, timeout)).AsSpan().SequenceEqual("ping"u8);
        }
        catch (Exception e) when (e is OperationCanceledException or EndOfStreamException or SocketException)
        {
            return false;
        }
    }

    /// <summary>Tries new connections until one is relayed end to end (ping echoed, then a clean end), within timeout.</summary>
    private static async Task<bool> ServedWithinAsync(IPEndPoint host, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Environment.TickCount64 < deadline)
        {
            try
            {
                using Socket client = await Peers.ConnectAsync(host);
                if (await IsServedAsync(client, Probe))
                {
                    client.Shutdown(SocketShutdown.Send);
                    (await Peers.ReadToEndAsync(client)).Should().BeEmpty();
                    return true;
                }
            }
            catch (SocketException)
            {
                // Refused or reset: try again.
            }

            await Task.Delay(100);
        }

        return false;
    }

    /// <summary>The proxy's open fd count once it stopped changing (three equal readings 100 ms apart, 5 s at most).</summary>
    private static async Task<int> SettledFdCountAsync(SpawnedProcess proxy)
    {
        int count = proxy.OpenFdCount();
        int same = 0;
        for (int i = 0; i < 50 && same < 3; i++)
        {
            await Task.Delay(100);
            int now = proxy.OpenFdCount();
            same = now == count ? same + 1 : 0;
            count = now;
        }

        return count;
    }

    /// <summary>The hard RLIMIT_NOFILE of a process (/proc/PID/limits); -1 when unlimited.</summary>
    private static long HardOpenFileLimit(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string hard = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return hard == "unlimited" ? -1 : long.Parse(hard, CultureInfo.InvariantCulture);
    }
}
