using System.Net;
using System.Net.Sockets;
using System.Text;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Relay.Tcp;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>
/// accept(2) failing as on a machine out of resources: ENFILE (the system-wide file table is full,
/// which cannot be arranged safely on a shared machine), ENOBUFS, ENOMEM. A shim preloaded into the
/// published binary (accept_faults.c) makes the first accepts that would succeed fail instead,
/// leaving the connection queued. The proxy (unlike the original, which exits: moby#6402) stays up,
/// backs off, and relays every waiting client once the failures are over, with established
/// connections relaying throughout.
/// </summary>
[Trait("Category", "Process")]
public sealed class AcceptFaultTests
{
    private const int Failures = 6;
    private const int Waiting = 3;
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    // The back-off doubles from 10 ms to 1 s: a dozen failures in a row are over within 10 s.
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(30);

    [SkippableTheory]
    [InlineData("ENFILE")]
    [InlineData("ENOBUFS")]
    [InlineData("ENOMEM")]
    public async Task Failed_accepts_leave_the_proxy_up_and_every_waiting_client_is_relayed_once_they_end(string errno)
    {
        string binary = Binaries.Path(Binaries.Ours);
        using FaultShim shim = await FaultShim.BuildAsync();
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = SpawnedProcess.Start(binary, ProxyRun.EngineArgs("tcp", host, backend.EndPoint),
            new SpawnOptions { Environment = shim.Variables(0, (errno, Failures)) });
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
        ShimTookEffect(proxy, shim);

        // Clients queue up while every accept fails; their requests wait in the socket buffers.
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < Waiting; i++)
            {
                Socket client = await Peers.ConnectAsync(host);
                clients.Add(client);
                await Wire.SendAllAsync(client, Message(i));
            }

            for (int i = 0; i < Waiting; i++)
            {
                (await Peers.ReadExactlyAsync(clients[i], Message(i).Length, Recovery)).Should().Equal(Message(i),
                    "client {0} waited through the failed accepts and is relayed afterwards", i);
            }

            proxy.HasExited.Should().BeFalse();
            IReadOnlyList<string> events = shim.Events();
            events.Count(e => e == errno).Should().Be(Failures, "every injected failure was met by the proxy");
            events.Take(events.ToList().IndexOf(FaultShim.Accepted)).Count(e => e == errno).Should().Be(Failures,
                "the failures came before the first real accept");
            backend.Accepted.Should().Be(Waiting, "each waiting client got exactly one backend connection, none was lost");

            (await ServedWithinAsync(host, Recovery)).Should().BeTrue("new clients are relayed once the failures are over");
            await Serving.EchoSeveralAsync(host, 1, 5);
            proxy.HasExited.Should().BeFalse();
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    [SkippableFact]
    public async Task An_established_connection_relays_throughout_a_run_of_mixed_accept_failures()
    {
        string binary = Binaries.Path(Binaries.Ours);
        using FaultShim shim = await FaultShim.BuildAsync();
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));

        // The first connection is accepted for real; then 3 + 3 + 3 failures, back-off up to 1 s.
        await using SpawnedProcess proxy = SpawnedProcess.Start(binary, ProxyRun.EngineArgs("tcp", host, backend.EndPoint),
            new SpawnOptions { Environment = shim.Variables(1, ("ENFILE", 3), ("ENOBUFS", 3), ("ENOMEM", 3)) });
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
        ShimTookEffect(proxy, shim);

        using Socket established = await Peers.ConnectAsync(host);
        await RoundTripAsync(established, 0);
        using Socket waiting = await Peers.ConnectAsync(host);
        await Wire.SendAllAsync(waiting, "waiting"u8.ToArray());

        // While the accepts fail (the waiting client is not answered until they are over), the
        // established connection relays as before.
        int round = 1;
        Task<byte[]> waited = Peers.ReadExactlyAsync(waiting, "waiting".Length, Recovery);
        while (!waited.IsCompleted && round < 1000)
        {
            await RoundTripAsync(established, round++);
            await Task.WhenAny(waited, Task.Delay(20));
        }

        (await waited).Should().Equal("waiting"u8.ToArray());
        round.Should().BeGreaterThan(1, "the established connection was exercised while the accepts failed");
        IReadOnlyList<string> events = shim.Events();
        events.Where(e => e is "ENFILE" or "ENOBUFS" or "ENOMEM").Should().Equal(
            ["ENFILE", "ENFILE", "ENFILE", "ENOBUFS", "ENOBUFS", "ENOBUFS", "ENOMEM", "ENOMEM", "ENOMEM"]);
        backend.Accepted.Should().Be(2);

        await RoundTripAsync(established, round);
        established.Shutdown(SocketShutdown.Send);
        (await Peers.ReadToEndAsync(established)).Should().BeEmpty();
        (await ServedWithinAsync(host, Recovery)).Should().BeTrue();
        proxy.HasExited.Should().BeFalse();
    }

    [SkippableFact]
    public async Task Clients_that_reset_while_queued_behind_failing_accepts_cost_nothing_once_accepted()
    {
        const int ServedFirst = 5;
        const int Resetting = 20;
        string binary = Binaries.Path(Binaries.Ours);
        using FaultShim shim = await FaultShim.BuildAsync();
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = SpawnedProcess.Start(binary, ProxyRun.EngineArgs("tcp", host, backend.EndPoint),
            new SpawnOptions { Environment = shim.Variables(ServedFirst, ("ENFILE", Failures)) });
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
        ShimTookEffect(proxy, shim);
        await Serving.EchoSeveralAsync(host, 1, ServedFirst);
        FdSnapshot idle = await ProxyFds.SettledAsync(proxy);

        // While the accepts fail, clients queue up, send a little and reset; one more waits politely.
        for (int i = 0; i < Resetting; i++)
        {
            using Socket client = await Peers.ConnectAsync(host);
            await Wire.SendAllAsync(client, Message(i));
            Wire.Reset(client);
        }

        using (Socket polite = await Peers.ConnectAsync(host))
        {
            await Wire.SendAllAsync(polite, Message(Resetting));
            (await Peers.ReadExactlyAsync(polite, Message(Resetting).Length, Recovery)).Should().Equal(Message(Resetting),
                "the client queued behind the reset ones is relayed once the failures are over");
        }

        shim.Events().Count(e => e == "ENFILE").Should().Be(Failures);
        FdSnapshot after = await ProxyFds.BackToAsync(proxy, idle, Peers.Patience);
        after.Count.Should().BeLessThanOrEqualTo(idle.Count, "whatever was accepted of the reset clients was closed (idle: {0}; now: {1})", idle.Summary(), after.Summary());
        await Serving.EchoOnceAsync(host, 50);
        proxy.HasExited.Should().BeFalse();
    }

    private static byte[] Message(int client) => Encoding.ASCII.GetBytes($"client {client} waited");

    private static async Task RoundTripAsync(Socket client, int round)
    {
        byte[] message = Encoding.ASCII.GetBytes($"round {round}");
        await Wire.SendAllAsync(client, message);
        (await Peers.ReadExactlyAsync(client, message.Length)).Should().Equal(message);
    }

    // The shim is in the proxy's address space and its constructor ran: the NativeAOT binary links
    // libc dynamically and honours LD_PRELOAD.
    private static void ShimTookEffect(SpawnedProcess proxy, FaultShim shim)
    {
        File.ReadAllText($"/proc/{proxy.Pid}/maps").Should().Contain(shim.LibraryPath, "LD_PRELOAD loaded the shim");
        shim.Events().Should().StartWith(FaultShim.Loaded);
    }

    /// <summary>Tries new connections (bounded) until one is relayed end to end.</summary>
    private static async Task<bool> ServedWithinAsync(IPEndPoint host, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Environment.TickCount64 < deadline)
        {
            try
            {
                await Serving.EchoOnceAsync(host, 99, 1024);
                return true;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or TimeoutException)
            {
                await Task.Delay(100);
            }
        }

        return false;
    }
}
