using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Relay.Tcp;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>Ordinary clients of a proxy in front of an echo: one round trip, a warm-up crowd.</summary>
internal static class Serving
{
    private const int WarmUpConnections = 16;
    private const int WarmUpBytes = 1024 * 1024;

    /// <summary>One client: sends size seeded bytes, half-closes, and gets exactly them back, then EOF.</summary>
    internal static async Task EchoOnceAsync(IPEndPoint host, int seed, int size = 64 * 1024)
    {
        byte[] payload = Wire.Seeded(seed, size);
        using Socket client = await Peers.ConnectAsync(host);
        Task<byte[]> echoed = Peers.ReadToEndAsync(client);
        await Wire.SendAllAsync(client, payload);
        client.Shutdown(SocketShutdown.Send);
        (await echoed.WaitAsync(Peers.Patience)).AsSpan().SequenceEqual(payload).Should().BeTrue("client {0} gets back exactly what it sent", seed);
    }

    /// <summary>Several clients one after the other.</summary>
    internal static async Task EchoSeveralAsync(IPEndPoint host, int firstSeed, int count)
    {
        for (int i = 0; i < count; i++)
        {
            await EchoOnceAsync(host, firstSeed + i);
        }
    }

    /// <summary>
    /// Two rounds of 16 concurrent 1 MiB echoes: whatever the proxy opens lazily (the runtime's
    /// engine, pooled splice pipes for more connections than a test then has at once) is open
    /// before the idle level is read.
    /// </summary>
    internal static async Task WarmUpAsync(IPEndPoint host)
    {
        for (int round = 0; round < 2; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, WarmUpConnections)
                .Select(i => Task.Run(() => EchoOnceAsync(host, 100 + i, WarmUpBytes))))
                .WaitAsync(TimeSpan.FromSeconds(30));
        }
    }
}
