using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Relay.Tcp;
using DockerProxy.Tests.Support;
using Xunit.Abstractions;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>
/// A hostile backend that resets its connection in the middle of a client's upload: while the
/// bytes flow, or once it has stopped reading and the upload is stalled (the proxy waits with full
/// buffers to send). The client promptly sees EOF or a reset on its read and an error on its
/// sends, never a hang; others are served; every fd is given back.
/// </summary>
[Trait("Category", "Process")]
public sealed class BackendResetTests(ITestOutputHelper output)
{
    private const int ReadBeforeReset = 1024 * 1024;
    private const string Flowing = "flowing";
    private const string Stalled = "stalled";
    private static readonly IPAddress Loopback = IPAddress.Loopback;
    private static readonly TimeSpan Bulk = TimeSpan.FromSeconds(30);

    [SkippableTheory]
    [InlineData("splice", Flowing)]
    [InlineData("splice", Stalled)]
    [InlineData("pipelines", Flowing)]
    [InlineData("pipelines", Stalled)]
    public async Task A_backend_reset_during_an_upload_ends_the_client_promptly_and_frees_everything(string copyMode, string when)
    {
        Binaries.Path(Binaries.Ours);
        await using ScriptedBackend backend = ScriptedBackend.Start();
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await OursProxy.StartReadyAsync(host, backend.EndPoint, copyMode);
        await Serving.WarmUpAsync(host);
        FdSnapshot idle = await ProxyFds.SettledAsync(proxy);

        var resetNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ArmedConnection resetter = backend.Arm(async (connection, stop) =>
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
            bound.CancelAfter(Bulk);
            byte[] buffer = new byte[64 * 1024];
            for (long read = 0; read < ReadBeforeReset;)
            {
                int n = await connection.ReceiveAsync(buffer, SocketFlags.None, bound.Token);
                n.Should().BePositive("the upload is still going");
                read += n;
            }

            if (when == Stalled)
            {
                await resetNow.Task.WaitAsync(bound.Token); // reads no more: the upload stalls
            }

            Wire.Reset(connection);
        });

        using (Socket client = await Peers.ConnectAsync(host))
        {
            await resetter.Accepted.WaitAsync(Peers.Patience);
            using var uploading = new CancellationTokenSource(Bulk);
            long sent = 0;
            Task upload = Task.Run(() => Wire.SendSeededAsync(client, 31, 1L << 32, uploading.Token, n => Volatile.Write(ref sent, n)));
            Task<string> end = Peers.NextEventAsync(client, Bulk);

            if (when == Stalled)
            {
                (await Progress.StallsAsync(() => Volatile.Read(ref sent))).Should().BeTrue("a backend that stops reading stalls the upload");
                resetNow.SetResult();
            }

            await resetter.Finished.WaitAsync(Peers.Patience);
            (await end.WaitAsync(Peers.Patience)).Should().BeOneOf(["eof", "reset"], "the client learns that its backend is gone");
            Func<Task> uploadEnds = () => upload.WaitAsync(Peers.Patience);
            await uploadEnds.Should().ThrowAsync<SocketException>("the upload has nowhere to go any more, and fails rather than hangs");
            Volatile.Read(ref sent).Should().BeLessThan(1L << 32);
        }

        await Serving.EchoSeveralAsync(host, 1, 5);
        FdSnapshot after = await ProxyFds.BackToAsync(proxy, idle, Peers.Patience);
        output.WriteLine($"fds at idle: {idle.Count} ({idle.Summary()}); after: {after.Count} ({after.Summary()})");
        after.Count.Should().BeLessThanOrEqualTo(idle.Count, "both legs and any pipe holding bytes are closed (idle: {0}; now: {1})", idle.Summary(), after.Summary());
        proxy.HasExited.Should().BeFalse();
    }
}
