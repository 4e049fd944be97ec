using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability;

/// <summary>The opt-in limits, each doing what it says, on the published binary.</summary>
[Trait("Category", "Process")]
public sealed class LimitTests
{
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableFact]
    public async Task Connect_timeout_gives_up_on_a_black_holing_backend_and_the_client_sees_EOF()
    {
        // A backend whose accept queue is full: the kernel drops further SYNs, a dial hangs.
        using Socket blackHole = Peers.Listen(Loopback, backlog: 0);
        var backend = (IPEndPoint)blackHole.LocalEndPoint!;
        var fillers = new List<Socket>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
                try
                {
                    filler.Connect(backend);
                }
                catch (SocketException)
                {
                    // in progress or dropped: either way it takes a place or a retry
                }

                fillers.Add(filler);
            }

            var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
            await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend, "-connect-timeout", "300ms"));
            (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

            using Socket client = await Peers.ConnectAsync(host);
            (await Peers.NextEventAsync(client, TimeSpan.FromSeconds(10))).Should().Be("eof");
            proxy.HasExited.Should().BeFalse();
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [SkippableFact]
    public async Task Idle_timeout_closes_a_silent_connection_and_spares_a_busy_one()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-idle-timeout", "1500ms"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket silent = await Peers.ConnectAsync(host);
        using Socket busy = await Peers.ConnectAsync(host);
        Task<string> silentEnd = Peers.NextEventAsync(silent, TimeSpan.FromSeconds(15));

        // The busy one talks back to back for 4 s, more than twice the timeout: it must stay open.
        // (No pauses: only a stall of the whole machine longer than the timeout could close it.)
        long until = Environment.TickCount64 + 4000;
        for (int i = 0; i < 1_000_000 && Environment.TickCount64 < until; i++)
        {
            await busy.SendAsync(new[] { (byte)i }, SocketFlags.None);
            (await Peers.ReadExactlyAsync(busy, 1)).Should().Equal((byte)i);
        }

        (await silentEnd).Should().Be("eof", "a connection with no traffic either way is reclaimed");
        await busy.SendAsync("still here"u8.ToArray(), SocketFlags.None);
        (await Peers.ReadExactlyAsync(busy, 10)).Should().Equal("still here"u8.ToArray());
    }

    [SkippableFact]
    public async Task Idle_timeout_reclaims_a_half_closed_connection_whose_other_side_never_closes()
    {
        using Socket backendListener = Peers.Listen(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours,
            ProxyRun.EngineArgs("tcp", host, (IPEndPoint)backendListener.LocalEndPoint!, "-idle-timeout", "500ms"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using Socket client = await Peers.ConnectAsync(host);
        using Socket backendSide = await backendListener.AcceptAsync().WaitAsync(Peers.Patience);
        client.Shutdown(SocketShutdown.Send);
        (await Peers.NextEventAsync(backendSide)).Should().Be("eof", "the half-close reaches the backend");

        // The backend never closes its side: only the idle timeout can end this connection.
        (await Peers.NextEventAsync(client, TimeSpan.FromSeconds(15))).Should().Be("eof");
        (await Peers.NextEventAsync(backendSide, TimeSpan.FromSeconds(15))).Should().BeOneOf("eof", "reset");
    }

    [SkippableFact]
    public async Task Max_connections_closes_clients_beyond_the_limit_at_once_and_serves_again_below_it()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-max-connections", "3"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        var open = new List<Socket>();
        for (int i = 0; i < 3; i++)
        {
            Socket client = await Peers.ConnectAsync(host);
            await client.SendAsync("x"u8.ToArray(), SocketFlags.None);
            (await Peers.ReadExactlyAsync(client, 1)).Should().Equal("x"u8.ToArray());
            open.Add(client);
        }

        using (Socket fourth = await Peers.ConnectAsync(host))
        {
            (await Peers.NextEventAsync(fourth)).Should().BeOneOf("eof", "reset");
        }

        open[0].Dispose();
        bool served = false;
        for (int attempt = 0; attempt < 50 && !served; attempt++)
        {
            using Socket again = await Peers.ConnectAsync(host);
            await again.SendAsync("y"u8.ToArray(), SocketFlags.None);
            served = await Peers.NextEventAsync(again) == "data";
            if (!served)
            {
                await Task.Delay(50); // the closed connection's slot frees once the proxy saw it end
            }
        }

        served.Should().BeTrue();
        open.ForEach(s => s.Dispose());
    }
}
