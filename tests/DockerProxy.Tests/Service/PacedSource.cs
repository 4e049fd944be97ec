using System.Net;
using System.Net.Sockets;

namespace DockerProxy.Tests.Service;

/// <summary>
/// A backend that sends every client the same known bytes in chunks with a pause between them, then
/// closes: a download whose duration the test chooses. Held, it sends the first chunk and the rest
/// only after <see cref="Release"/>: a download that is still going for as long as the test needs.
/// Runs until disposed.
/// </summary>
internal sealed class PacedSource : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly int _chunk;
    private readonly TimeSpan _pause;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly TaskCompletionSource? _released;

    internal PacedSource(int totalBytes, int chunk, TimeSpan pause, bool held = false)
    {
        _released = held ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null;
        Payload = new byte[totalBytes];
        new Random(7).NextBytes(Payload);
        _chunk = chunk;
        _pause = pause;
        _listener = Support.Peers.Listen(IPAddress.Loopback);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    internal byte[] Payload { get; }

    internal IPEndPoint EndPoint { get; }

    /// <summary>A held source sends the rest of every download from now on.</summary>
    internal void Release() => _released?.TrySetResult();

    private async Task AcceptAsync()
    {
        var sends = new List<Task>();
        for (int i = 0; i < 64 && !_stop.IsCancellationRequested; i++)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                break;
            }

            sends.Add(SendAsync(client));
        }

        await Task.WhenAll(sends);
    }

    private async Task SendAsync(Socket client)
    {
        using (client)
        {
            try
            {
                for (int offset = 0; offset < Payload.Length; offset += _chunk)
                {
                    int count = Math.Min(_chunk, Payload.Length - offset);
                    await client.SendAsync(Payload.AsMemory(offset, count), SocketFlags.None, _stop.Token);
                    if (offset == 0 && _released is not null)
                    {
                        await _released.Task.WaitAsync(_stop.Token);
                    }

                    await Task.Delay(_pause, _stop.Token);
                }

                client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The proxy cut the connection (drain deadline) or the test ended.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting.WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
