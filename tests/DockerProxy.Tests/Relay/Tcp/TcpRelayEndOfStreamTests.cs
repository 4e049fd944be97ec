using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>
/// How an in-process <c>TcpRelay</c> carries the end of a stream: half-closes in both directions,
/// the backend closing first, a refused dial, and resets (which reach the other side as a FIN).
/// </summary>
public sealed class TcpRelayEndOfStreamTests
{
    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task Client_half_close_reaches_the_backend_as_EOF_and_the_backend_can_still_answer(string copyMode)
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(Wire.EndPointOf(backendListener), copyMode);
        (Socket client, Socket backend) = await relay.ConnectThroughAsync(backendListener);
        using (client)
        using (backend)
        {
            await Wire.SendAllAsync(client, "request"u8.ToArray());
            client.Shutdown(SocketShutdown.Send);
            (await Peers.ReadToEndAsync(backend)).Should().Equal("request"u8.ToArray());

            // After the EOF the other direction still carries data, in several writes.
            await Wire.SendAllAsync(backend, "response, "u8.ToArray());
            (await Peers.ReadExactlyAsync(client, 10)).Should().Equal("response, "u8.ToArray());
            byte[] more = Wire.Seeded(7, 300_000);
            Task<byte[]> rest = Peers.ReadToEndAsync(client);
            await Wire.SendAllAsync(backend, more);
            backend.Shutdown(SocketShutdown.Send);
            (await rest).Should().Equal(more);
        }
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task Backend_half_close_reaches_the_client_as_EOF_and_the_client_can_still_send(string copyMode)
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(Wire.EndPointOf(backendListener), copyMode);
        (Socket client, Socket backend) = await relay.ConnectThroughAsync(backendListener);
        using (client)
        using (backend)
        {
            await Wire.SendAllAsync(backend, "banner"u8.ToArray());
            backend.Shutdown(SocketShutdown.Send);
            (await Peers.ReadToEndAsync(client)).Should().Equal("banner"u8.ToArray());

            await Wire.SendAllAsync(client, "upload, "u8.ToArray());
            (await Peers.ReadExactlyAsync(backend, 8)).Should().Equal("upload, "u8.ToArray());
            byte[] more = Wire.Seeded(8, 300_000);
            Task<byte[]> rest = Peers.ReadToEndAsync(backend);
            await Wire.SendAllAsync(client, more);
            client.Shutdown(SocketShutdown.Send);
            (await rest).Should().Equal(more);
        }
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task Backend_closing_first_gives_the_client_EOF_and_the_relay_lets_go_once_the_client_closes(string copyMode)
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        IPEndPoint backendAt = Wire.EndPointOf(backendListener);
        await using RelayHost relay = RelayHost.Start(backendAt, copyMode);
        (Socket client, Socket backend) = await relay.ConnectThroughAsync(backendListener);
        using (client)
        {
            await Wire.SendAllAsync(backend, "bye"u8.ToArray());
            backend.Close();

            (await Peers.ReadToEndAsync(client)).Should().Equal("bye"u8.ToArray(), "the data, then a FIN (a reset would throw)");
            TcpTable.StatesOfConnectionsTo(backendAt).Should().Equal(["CLOSE_WAIT"],
                "the relay holds its backend leg half-closed while the client side is still open");

            client.Close();
            (await Poll.UntilAsync(() => TcpTable.StatesOfConnectionsTo(backendAt).Count == 0, Peers.Patience)).Should().BeTrue(
                "once the client closed too, the relay closes its backend leg");
        }
    }

    [Fact]
    public async Task A_refusing_backend_gives_the_client_EOF_not_a_reset()
    {
        IPEndPoint nobody = new(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using RelayHost relay = RelayHost.Start(nobody);

        for (int i = 0; i < 2; i++)
        {
            using Socket client = await Peers.ConnectAsync(relay.EndPoint);
            (await Peers.NextEventAsync(client)).Should().Be("eof", "connection {0} sees a FIN", i);
        }

        relay.Run.IsCompleted.Should().BeFalse("a failed dial ends one connection, not the relay");
    }

    [Fact]
    public async Task A_refusing_backend_gives_EOF_even_to_a_client_that_already_sent_data()
    {
        IPEndPoint nobody = new(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using RelayHost relay = RelayHost.Start(nobody);

        using Socket client = await Peers.ConnectAsync(relay.EndPoint);
        await Wire.SendAllAsync(client, "GET / HTTP/1.0\r\n\r\n"u8.ToArray());
        (await Peers.NextEventAsync(client)).Should().Be("eof");
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task A_client_reset_reaches_the_backend_as_EOF(string copyMode)
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(Wire.EndPointOf(backendListener), copyMode);
        (Socket client, Socket backend) = await relay.ConnectThroughAsync(backendListener);
        using (client)
        using (backend)
        {
            await ExchangeAsync(client, backend);
            Wire.Reset(client);
            (await Peers.NextEventAsync(backend)).Should().Be("eof");
        }
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task A_backend_reset_reaches_the_client_as_EOF(string copyMode)
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(Wire.EndPointOf(backendListener), copyMode);
        (Socket client, Socket backend) = await relay.ConnectThroughAsync(backendListener);
        using (client)
        using (backend)
        {
            await ExchangeAsync(client, backend);
            Wire.Reset(backend);
            (await Peers.NextEventAsync(client)).Should().Be("eof");
        }
    }

    [Theory]
    [InlineData("splice", "client")]
    [InlineData("splice", "backend")]
    [InlineData("pipelines", "client")]
    [InlineData("pipelines", "backend")]
    public async Task A_reset_while_the_other_side_streams_reaches_it_as_EOF(string copyMode, string resetter)
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        await using RelayHost relay = RelayHost.Start(Wire.EndPointOf(backendListener), copyMode);
        (Socket client, Socket backend) = await relay.ConnectThroughAsync(backendListener);
        using (client)
        using (backend)
        {
            (Socket resetting, Socket streaming) = resetter == "client" ? (client, backend) : (backend, client);
            using var cts = new CancellationTokenSource(Peers.Patience);
            Task sender = Task.Run(() => Wire.SendSeededAsync(streaming, 11, 1L << 30, cts.Token));
            _ = await Peers.ReadExactlyAsync(resetting, 1024 * 1024); // data is flowing through the relay

            Wire.Reset(resetting);
            (await Peers.NextEventAsync(streaming)).Should().Be("eof", "the {0}'s reset reaches the other side as a FIN", resetter);
            Func<Task> sending = () => sender.WaitAsync(Peers.Patience);
            await sending.Should().ThrowAsync<SocketException>("the stream has nowhere to go any more");
        }
    }

    // One byte each way, so both legs are established and both pumps are running.
    private static async Task ExchangeAsync(Socket client, Socket backend)
    {
        await Wire.SendAllAsync(client, "c"u8.ToArray());
        (await Peers.ReadExactlyAsync(backend, 1)).Should().Equal("c"u8.ToArray());
        await Wire.SendAllAsync(backend, "b"u8.ToArray());
        (await Peers.ReadExactlyAsync(client, 1)).Should().Equal("b"u8.ToArray());
    }
}
