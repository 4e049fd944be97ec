using System.Net;
using System.Net.Sockets;
using DockerProxy.Relay.Tcp;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>Stopping an in-process <c>TcpRelay</c> with connections open: they are cut, the stop completes.</summary>
public sealed class TcpRelayStopTests
{
    private static readonly TimeSpan Cut = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData("splice", false)]
    [InlineData("splice", true)]
    [InlineData("pipelines", false)]
    [InlineData("pipelines", true)]
    public async Task Disposing_cuts_open_connections_and_RunAsync_completes(string copyMode, bool cancelFirst)
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        TcpRelay relay = RelayHost.Create(Wire.EndPointOf(backendListener), copyMode);
        var host = (IPEndPoint)relay.LocalEndPoint;
        using var stop = new CancellationTokenSource();
        Task run = relay.RunAsync(stop.Token);
        var pairs = new List<(Socket Client, Socket Backend)>();
        try
        {
            // Three idle connections, after one byte each way.
            for (int i = 0; i < 3; i++)
            {
                (Socket client, Socket backend) pair = await RelayHost.ConnectThroughAsync(host, backendListener);
                pairs.Add(pair);
                await Wire.SendAllAsync(pair.client, "c"u8.ToArray());
                (await Peers.ReadExactlyAsync(pair.backend, 1)).Should().Equal("c"u8.ToArray());
                await Wire.SendAllAsync(pair.backend, "b"u8.ToArray());
                (await Peers.ReadExactlyAsync(pair.client, 1)).Should().Equal("b"u8.ToArray());
            }

            // One busy connection: the client sends flat out to a backend that does not read, so
            // the relay is blocked in a send with its pipe full when it is stopped.
            (Socket Client, Socket Backend) busy = await RelayHost.ConnectThroughAsync(host, backendListener);
            pairs.Add(busy);
            using var sending = new CancellationTokenSource(Cut);
            long progress = 0;
            Task stalledSender = Task.Run(() => Wire.SendSeededAsync(busy.Client, 9, 1L << 30, sending.Token, n => Volatile.Write(ref progress, n)));
            (await Poll.UntilAsync(() => Volatile.Read(ref progress) >= 1024 * 1024, Cut)).Should().BeTrue("data flows before the stop");

            if (cancelFirst)
            {
                await stop.CancelAsync();
                await run.WaitAsync(Cut);
                await relay.DisposeAsync().AsTask().WaitAsync(Cut);
            }
            else
            {
                await relay.DisposeAsync().AsTask().WaitAsync(Cut);
                await run.WaitAsync(Cut);
            }

            foreach ((Socket client, Socket backend) in pairs)
            {
                (await Wire.DrainToEndAsync(client, Cut)).Should().BeOneOf("eof", "reset");
                (await Wire.DrainToEndAsync(backend, Cut)).Should().BeOneOf("eof", "reset");
            }

            Func<Task> senderEnds = () => stalledSender.WaitAsync(Cut);
            await senderEnds.Should().ThrowAsync<SocketException>("the busy client's sends fail once the relay cut it");
            (await Peers.IsListeningAsync(host)).Should().BeFalse("the listener is closed");
        }
        finally
        {
            await stop.CancelAsync();
            await relay.DisposeAsync();
            foreach ((Socket client, Socket backend) in pairs)
            {
                client.Dispose();
                backend.Dispose();
            }
        }
    }
}
