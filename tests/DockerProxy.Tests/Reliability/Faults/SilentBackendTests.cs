using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Relay.Tcp;
using DockerProxy.Tests.Support;
using Xunit.Abstractions;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>
/// A hostile backend connection that takes the request and never answers (it only closes once its
/// client has gone): the client gets nothing, other clients are served meanwhile, and closing the
/// client (with a FIN or a reset) reaches the backend and frees every fd.
/// </summary>
[Trait("Category", "Process")]
public sealed class SilentBackendTests(ITestOutputHelper output)
{
    private static readonly IPAddress Loopback = IPAddress.Loopback;
    private static readonly TimeSpan Silence = TimeSpan.FromSeconds(1);

    [SkippableTheory]
    [InlineData("splice", "fin")]
    [InlineData("splice", "reset")]
    [InlineData("pipelines", "fin")]
    [InlineData("pipelines", "reset")]
    public async Task A_backend_that_never_answers_holds_only_its_own_client_and_closing_that_client_frees_everything(string copyMode, string close)
    {
        byte[] request = "GET /never HTTP/1.1\r\nHost: backend\r\n\r\n"u8.ToArray();
        Binaries.Path(Binaries.Ours);
        await using ScriptedBackend backend = ScriptedBackend.Start();
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await OursProxy.StartReadyAsync(host, backend.EndPoint, copyMode);
        await Serving.WarmUpAsync(host);
        FdSnapshot idle = await ProxyFds.SettledAsync(proxy);

        var received = new MemoryStream();
        ArmedConnection mute = backend.Arm(async (connection, stop) =>
        {
            // Reads (and keeps) whatever comes until EOF, never writes a byte; then closes.
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
            bound.CancelAfter(TimeSpan.FromSeconds(30));
            byte[] buffer = new byte[4096];
            int n;
            while ((n = await connection.ReceiveAsync(buffer, SocketFlags.None, bound.Token)) > 0)
            {
                lock (received)
                {
                    received.Write(buffer, 0, n);
                }
            }
        });

        Socket client = await Peers.ConnectAsync(host);
        try
        {
            await mute.Accepted.WaitAsync(Peers.Patience);
            await Wire.SendAllAsync(client, request);
            (await Poll.UntilAsync(() => Length(received) == request.Length, Peers.Patience)).Should().BeTrue("the request reaches the backend");

            (await NothingWithinAsync(client, Silence)).Should().BeTrue("the backend never answers, so neither does the proxy");
            await Serving.EchoSeveralAsync(host, 1, 10);
            proxy.HasExited.Should().BeFalse();
            (await NothingWithinAsync(client, Silence)).Should().BeTrue("the silent connection is still open, still without an answer");
        }
        finally
        {
            if (close == "reset")
            {
                Wire.Reset(client);
            }
            else
            {
                client.Dispose();
            }
        }

        await mute.Finished.WaitAsync(Peers.Patience); // it saw EOF: the client's close was passed on
        lock (received)
        {
            received.ToArray().Should().Equal(request);
        }

        FdSnapshot after = await ProxyFds.BackToAsync(proxy, idle, Peers.Patience);

        output.WriteLine($"fds at idle: {idle.Count} ({idle.Summary()}); after: {after.Count} ({after.Summary()})");
        after.Count.Should().BeLessThanOrEqualTo(idle.Count, "both legs are closed (idle: {0}; now: {1})", idle.Summary(), after.Summary());
        await Serving.EchoOnceAsync(host, 50);
        proxy.HasExited.Should().BeFalse();
    }

    private static long Length(MemoryStream stream)
    {
        lock (stream)
        {
            return stream.Length;
        }
    }

    /// <summary>Whether neither data nor an end (EOF, reset) arrives within the wait.</summary>
    private static async Task<bool> NothingWithinAsync(Socket client, TimeSpan wait)
    {
        using var cts = new CancellationTokenSource(wait);
        try
        {
            _ = await client.ReceiveAsync(new byte[1], SocketFlags.Peek, cts.Token);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
