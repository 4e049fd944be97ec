using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>
/// The published binary out of file descriptors (RLIMIT_NOFILE lowered under it with prlimit): it
/// can no longer accept or no longer dial, but unlike the original (which exits, moby#6402) it
/// survives and serves again once fds are available. The limit is chosen so that, after up to three
/// relayed connections (two fds each; a splice pipe also takes two), either no fd is left (the next
/// accept fails with EMFILE) or exactly one is (the accept succeeds, the backend socket cannot be made).
/// </summary>
[Trait("Category", "Process")]
public sealed class TcpRelayFdExhaustionTests
{
    private const string AcceptFails = "accept";
    private const string DialFails = "dial";
    private const int ServedBeforeExhaustion = 3;
    private const int MaxConnections = 20;
    private static readonly IPAddress Loopback = IPAddress.Loopback;
    private static readonly TimeSpan Probe = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(10);

    [SkippableTheory]
    [InlineData(AcceptFails, "splice")]
    [InlineData(DialFails, "splice")]
    [InlineData(AcceptFails, "pipelines")]
    [InlineData(DialFails, "pipelines")]
    public async Task Out_of_fds_it_survives_and_serves_again_once_the_connections_are_closed(string exhausted, string copyMode)
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await OursProxy.StartReadyAsync(host, backend.EndPoint, copyMode);
        var clients = new List<Socket>();
        try
        {
            (int served, string unserved) = await StarveAsync(proxy, host, exhausted, clients);
            served.Should().BeInRange(1, ServedBeforeExhaustion, "a splice pipe made meanwhile takes two of the spare fds");
            unserved.Should().BeOneOf(exhausted == AcceptFails ? ["waiting"] : ["eof", "reset"]);

            clients.ForEach(client => client.Dispose());
            clients.Clear();
            (await ServedWithinAsync(host, Recovery)).Should().BeTrue("a new connection is relayed once the fds are free again");
            proxy.HasExited.Should().BeFalse();
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    [SkippableTheory]
    [InlineData(AcceptFails, "splice")]
    [InlineData(DialFails, "splice")]
    [InlineData(AcceptFails, "pipelines")]
    [InlineData(DialFails, "pipelines")]
    public async Task Out_of_fds_it_serves_again_once_the_limit_is_raised_with_every_connection_still_open(string exhausted, string copyMode)
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await OursProxy.StartReadyAsync(host, backend.EndPoint, copyMode);
        var clients = new List<Socket>();
        try
        {
            (int served, string unserved) = await StarveAsync(proxy, host, exhausted, clients);

            long hard = HardOpenFileLimit(proxy.Pid);
            proxy.SetOpenFileLimit(hard < 0 ? 4096 : Math.Min(4096, hard), hard);
            (await ServedWithinAsync(host, Recovery)).Should().BeTrue("a new connection is relayed once the limit was raised");

            for (int i = 0; i < served; i++)
            {
                (await ProbeAsync(clients[i], Probe)).Should().Be("served", "connection {0}, relayed before the fds ran out, still relays", i);
            }

            if (unserved == "waiting")
            {
                // Its ping was sent while the proxy could not accept it: now it is accepted and relayed.
                (await Peers.ReadExactlyAsync(clients[served], 4, Recovery)).Should().Equal("ping"u8.ToArray());
            }

            proxy.HasExited.Should().BeFalse();
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    [SkippableFact]
    public async Task Out_of_fds_for_the_backend_socket_a_client_that_sent_a_request_sees_EOF_as_after_a_refused_dial()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, backend.EndPoint);
        var clients = new List<Socket>();
        try
        {
            // Out of fds to accept: the next client waits in the backlog, its request already sent.
            (int served, string unserved) = await StarveAsync(proxy, host, AcceptFails, clients);
            unserved.Should().Be("waiting");

            // One fd more: the waiting client is accepted, but no fd is left for its backend socket.
            proxy.SetOpenFileLimit(LimitLeaving(proxy.Pid, 1), HardOpenFileLimit(proxy.Pid));
            (await Peers.NextEventAsync(clients[served], Recovery)).Should().Be("eof",
                "a connection the proxy cannot dial for ends with a FIN, as when the backend refuses (not with a reset)");
            proxy.HasExited.Should().BeFalse();
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    [SkippableFact]
    public async Task With_no_fd_left_for_a_splice_pipe_a_connection_is_relayed_through_memory_intact()
    {
        const int Size = 4 * 1024 * 1024;
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await OursProxy.StartReadyAsync(host, backend.EndPoint, "splice");
        await SettledFdCountAsync(proxy);
        string[] before = OpenFds(proxy.Pid);
        // Two fds: the accepted client and the backend socket; none for a pipe (the pool is still empty).
        proxy.SetOpenFileLimit(LimitLeaving(proxy.Pid, 2), HardOpenFileLimit(proxy.Pid));

        byte[] payload = Wire.Seeded(42, Size);
        using (Socket client = await Peers.ConnectAsync(host))
        {
            Task<byte[]> echoed = Peers.ReadToEndAsync(client, Recovery);
            await Wire.SendAllAsync(client, payload);
            client.Shutdown(SocketShutdown.Send);
            (await echoed).AsSpan().SequenceEqual(payload).Should().BeTrue("the echo comes back intact through the Pipelines fallback");
        }

        (await Poll.UntilAsync(() => OpenFds(proxy.Pid).SequenceEqual(before), Recovery)).Should().BeTrue(
            "once the connection closed the proxy holds the fds it had before: no pipe could be made, none is pooled");
        proxy.HasExited.Should().BeFalse();
    }

    /// <summary>
    /// Lowers the proxy's fd limit so that three connections can be relayed and then the accept
    /// (or the backend socket) fails; opens connections until one is not served. Returns how many
    /// were (the first ones in clients) and what the next one saw.
    /// </summary>
    private static async Task<(int Served, string Unserved)> StarveAsync(SpawnedProcess proxy, IPEndPoint host, string exhausted, List<Socket> clients)
    {
        // A first connection, so that whatever the runtime opens lazily is already open.
        (await ServedWithinAsync(host, Recovery)).Should().BeTrue("the proxy relays before the limit is lowered");
        await SettledFdCountAsync(proxy);
        int freeFds = (2 * ServedBeforeExhaustion) + (exhausted == AcceptFails ? 0 : 1);
        proxy.SetOpenFileLimit(LimitLeaving(proxy.Pid, freeFds), HardOpenFileLimit(proxy.Pid));

        for (int i = 0; i < MaxConnections; i++)
        {
            Socket client = await Peers.ConnectAsync(host); // the kernel completes it even while the proxy cannot accept
            clients.Add(client);
            string outcome = await ProbeAsync(client, Probe);
            if (outcome == "waiting" && TcpTable.AcceptQueueLength(host) == 0)
            {
                // Not in the accept queue: the proxy took it and is only slow to answer (a busy
                // machine); what it answers in the end decides.
                outcome = await AnswerAsync(client, Recovery);
            }

            if (outcome != "served")
            {
                proxy.HasExited.Should().BeFalse("running out of fds must not end the proxy");
                return (i, outcome);
            }
        }

        throw new InvalidOperationException($"{MaxConnections} connections were all served with {freeFds} fds to spare");
    }

    /// <summary>Sends a ping: "served" (echoed), "waiting" (no answer within timeout), "eof" or "reset".</summary>
    private static async Task<string> ProbeAsync(Socket client, TimeSpan timeout)
    {
        try
        {
            await Wire.SendAllAsync(client, "ping"u8.ToArray());
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            return "reset";
        }

        return await AnswerAsync(client, timeout);
    }

    /// <summary>What comes back for the ping: "served", "waiting" (nothing within timeout), "eof" or "reset".</summary>
    private static async Task<string> AnswerAsync(Socket client, TimeSpan timeout)
    {
        try
        {
            byte[] answer = await Peers.ReadExactlyAsync(client, 4, timeout);
            return answer.AsSpan().SequenceEqual("ping"u8) ? "served" : "garbled";
        }
        catch (OperationCanceledException)
        {
            return "waiting";
        }
        catch (EndOfStreamException)
        {
            return "eof";
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            return "reset";
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
                if (await ProbeAsync(client, Probe) == "served")
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

    /// <summary>Waits until the proxy's open fd count stops changing (three equal readings 100 ms apart, 5 s at most).</summary>
    private static async Task SettledFdCountAsync(SpawnedProcess proxy)
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
    }

    /// <summary>
    /// The smallest RLIMIT_NOFILE under which exactly free fd numbers are unused: the limit caps the
    /// number a new fd may get, and the kernel hands out the lowest free number.
    /// </summary>
    private static int LimitLeaving(int pid, int free)
    {
        HashSet<int> open = [.. OpenFds(pid).Select(fd => int.Parse(fd, CultureInfo.InvariantCulture))];
        int unused = 0;
        for (int limit = 0; limit < 65536; limit++)
        {
            if (unused == free)
            {
                return limit;
            }

            if (!open.Contains(limit))
            {
                unused++;
            }
        }

        throw new InvalidOperationException("no limit found");
    }

    private static string[] OpenFds(int pid) =>
        [.. Directory.GetFileSystemEntries($"/proc/{pid}/fd").Select(path => Path.GetFileName(path)).Order(StringComparer.Ordinal)];

    /// <summary>The hard RLIMIT_NOFILE of a process (/proc/PID/limits); -1 when unlimited.</summary>
    private static long HardOpenFileLimit(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string hard = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return hard == "unlimited" ? -1 : long.Parse(hard, CultureInfo.InvariantCulture);
    }
}
