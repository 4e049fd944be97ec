using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Support;
using FluentAssertions.Execution;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// The UDP session table in the published binary: its bound comes from -udp-max-sessions or from
/// DOCKER_PROXY_UDP_MAX_SESSIONS, and under a flood of distinct source addresses the process keeps
/// its memory and its fds flat (the originals' table is unbounded).
/// </summary>
[Trait("Category", "Process")]
public sealed class UdpRelayProcessTests
{
    private const string MaxSessionsVariable = "DOCKER_PROXY_UDP_MAX_SESSIONS";
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_table_bound_comes_from_the_flag_or_the_environment(bool fromEnvironment)
    {
        const int Bound = 3;
        Binaries.Path(Binaries.Ours);
        await using UdpEcho backend = UdpEcho.Start(Loopback);
        string bound = Bound.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var options = new SpawnOptions
        {
            Environment = new Dictionary<string, string?> { [MaxSessionsVariable] = fromEnvironment ? bound : null },
        };
        string[] extra = fromEnvironment ? [] : ["-udp-max-sessions", bound];
        (SpawnedProcess proxy, IPEndPoint host) = await UdpProxyRun.StartOnFreePortAsync(Binaries.Ours, Loopback, backend.EndPoint, options, extra);
        await using SpawnedProcess started = proxy;

        Socket[] clients = Enumerable.Range(0, Bound + 1).Select(_ => Datagrams.Connect(host)).ToArray();
        try
        {
            var ports = new int[clients.Length];
            for (int i = 0; i < clients.Length; i++)
            {
                ports[i] = await BackendPortOfAsync(clients[i], backend, $"{i} opens");
            }

            // Client 3 filled the table past its bound of 3 and evicted client 0, the oldest.
            (await BackendPortOfAsync(clients[3], backend, "3 again")).Should().Be(ports[3]);
            (await BackendPortOfAsync(clients[0], backend, "0 again")).Should().NotBe(ports[0], "the oldest session was evicted");
        }
        finally
        {
            foreach (Socket client in clients)
            {
                client.Dispose();
            }
        }
    }

    [SkippableFact]
    public async Task A_flood_of_100000_source_addresses_keeps_memory_and_fds_flat()
    {
        const int Sources = 100_000;
        const int Warmup = 5_000;
        const int Batch = 1_000;
        const int MaxSessions = 1_000;
        const long MaxGrowthKib = 16 * 1024;
        Binaries.Path(Binaries.Ours);
        await using UdpEcho backend = UdpEcho.Start(Loopback, replies: false, record: false);
        (SpawnedProcess proxy, IPEndPoint host) = await UdpProxyRun.StartOnFreePortAsync(
            Binaries.Ours, Loopback, backend.EndPoint, null, "-udp-max-sessions", MaxSessions.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using SpawnedProcess started = proxy;
        int baselineFds = proxy.OpenFdCount();

        // Distinct client addresses: explicit ports below the ephemeral range (so nothing bound to
        // port 0 elsewhere collides) across 127.0.0.2-127.0.0.5; a port in use is skipped.
        using IEnumerator<IPEndPoint> sources = SourceAddresses().GetEnumerator();
        byte[] payload = new byte[32];
        int sent = 0;
        int skipped = 0;
        int maxFds = baselineFds;
        long warmKib = 0;
        long deadline = Environment.TickCount64 + 60_000;
        while (sent < Sources && Environment.TickCount64 < deadline)
        {
            int target = Math.Min(sent + Batch, Sources);
            while (sent < target && sources.MoveNext())
            {
                using Socket client = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                try
                {
                    client.Bind(sources.Current);
                }
                catch (SocketException)
                {
                    skipped++;
                    continue;
                }

                BitConverter.TryWriteBytes(payload, sent).Should().BeTrue();
                client.SendTo(payload, host).Should().Be(payload.Length);
                sent++;
            }

            // Pace by batch: the relay takes the batch before the next one comes.
            int expected = sent;
            _ = await Poll.UntilAsync(() => backend.Count >= expected, TimeSpan.FromSeconds(5));
            maxFds = Math.Max(maxFds, proxy.OpenFdCount());
            if (sent == Warmup)
            {
                warmKib = proxy.PrivateKib();
            }
        }

        sent.Should().Be(Sources, "100,000 sources within 60 s ({0} ports skipped in use)", skipped);
        (await Poll.UntilAsync(() => backend.Count >= Sources * 99 / 100)).Should().BeTrue(
            "the relay forwarded the flood (got {0} of {1})", backend.Count, Sources);
        proxy.HasExited.Should().BeFalse();
        long finalKib = proxy.PrivateKib();
        int finalFds = proxy.OpenFdCount();
        using (new AssertionScope())
        {
            maxFds.Should().BeLessThan(baselineFds + MaxSessions + 100, "at most one backend socket per session in the table");
            finalFds.Should().BeLessThan(baselineFds + MaxSessions + 100);
            (finalKib - warmKib).Should().BeLessThan(MaxGrowthKib, "memory after 100,000 sources ({0} KiB) stays near memory after 5,000 ({1} KiB)", finalKib, warmKib);
        }

        // Still relaying after the flood.
        backend.Replies = true;
        using Socket probe = Datagrams.Connect(host);
        (await Datagrams.RoundTripAsync(probe, Datagrams.Text("after the flood"))).Should().Equal(Datagrams.Text("after the flood"));
    }

    private static IEnumerable<IPEndPoint> SourceAddresses()
    {
        IPAddress[] addresses = Enumerable.Range(2, 4).Select(i => new IPAddress(new byte[] { 127, 0, 0, (byte)i })).ToArray();
        for (int port = 1024; port < 32768; port++)
        {
            foreach (IPAddress address in addresses)
            {
                yield return new IPEndPoint(address, port);
            }
        }
    }

    private static async Task<int> BackendPortOfAsync(Socket client, UdpEcho backend, string text)
    {
        byte[] payload = Datagrams.Text(text);
        (await Datagrams.RoundTripAsync(client, payload)).Should().Equal(payload);
        return backend.SourceOf(payload).Port;
    }
}
