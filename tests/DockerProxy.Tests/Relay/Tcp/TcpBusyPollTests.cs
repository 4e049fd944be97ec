using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>
/// -tcp-busy-poll in the published binary: the TCP event loop (splice mode) polls for a while after
/// traffic before it sleeps. Whatever the setting, every byte is relayed; before any client and once
/// the traffic stops, the loop sleeps: an idle proxy uses no CPU, however long it polled while busy.
/// </summary>
[Trait("Category", "Process")]
public sealed class TcpBusyPollTests
{
    private const int Connections = 20;
    private const int RoundTrips = 100;

    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableTheory]
    [InlineData("0")]
    [InlineData("50us")]
    [InlineData("1ms")]
    public async Task Every_byte_is_relayed_and_an_idle_proxy_sleeps(string busyPoll)
    {
        Binaries.Path(Binaries.Ours);
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-tcp-busy-poll", busyPoll));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
        (await LoopThreads.SleepsInEpollAsync(proxy.Pid, "tcp-loop")).Should().BeTrue("the listener is on the event loop, which sleeps until a client comes");

        for (int c = 0; c < Connections; c++)
        {
            using Socket client = await Peers.ConnectAsync(host);
            for (int i = 0; i < RoundTrips; i++)
            {
                byte[] message = Wire.Seeded((c * RoundTrips) + i, 64);
                await Wire.SendAllAsync(client, message);
                (await Peers.ReadExactlyAsync(client, message.Length)).Should().Equal(message, "round trip {0} of connection {1} with -tcp-busy-poll {2}", i, c, busyPoll);
            }

            // And a stream larger than the socket buffers, through the pipes, then the end of it.
            byte[] stream = Wire.Seeded(c, 1 << 20);
            Task<byte[]> echoed = Peers.ReadToEndAsync(client);
            await Wire.SendAllAsync(client, stream);
            client.Shutdown(SocketShutdown.Send);
            (await echoed).AsSpan().SequenceEqual(stream).Should().BeTrue("connection {0} echoes 1 MiB intact with -tcp-busy-poll {1}", c, busyPoll);
        }

        await LoopThreads.ShouldSleepAsync(proxy.Pid, "tcp-loop", "-tcp-busy-poll " + busyPoll);
    }
}
