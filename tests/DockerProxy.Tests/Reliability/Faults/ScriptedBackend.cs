using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>
/// A loopback TCP backend that echoes every connection (until EOF, then half-closes and closes),
/// except the next one after <see cref="Arm"/>, which gets a hostile behaviour instead: silence,
/// a flood, a reset... The behaviour's socket is closed when it returns. Runs until disposed.
/// </summary>
internal sealed class ScriptedBackend : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly object _gate = new();
    private readonly List<Task> _connections = [];
    private Armed? _next;
    private int _accepted;

    private ScriptedBackend(Socket listener)
    {
        _listener = listener;
        EndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    /// <summary>What a hostile connection does with its socket; stop is cancelled on dispose.</summary>
    internal delegate Task Behaviour(Socket connection, CancellationToken stop);

    internal IPEndPoint EndPoint { get; }

    /// <summary>Connections accepted so far (the proxy dials one per accepted client).</summary>
    internal int Accepted => Volatile.Read(ref _accepted);

    internal static ScriptedBackend Start() => new(Peers.Listen(IPAddress.Loopback));

    /// <summary>
    /// The next connection accepted gets behaviour instead of an echo. Accepted completes when it
    /// is accepted, Finished when the behaviour has returned (or failed) and its socket is closed.
    /// </summary>
    internal ArmedConnection Arm(Behaviour behaviour)
    {
        var armed = new Armed(behaviour);
        Interlocked.Exchange(ref _next, armed).Should().BeNull("one hostile connection at a time");
        return new ArmedConnection(armed.Accepted.Task, armed.Finished.Task);
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket connection = await _listener.AcceptAsync(_stop.Token);
                Interlocked.Increment(ref _accepted);
                Armed? armed = Interlocked.Exchange(ref _next, null);
                Task serving = armed is null ? EchoAsync(connection) : RunArmedAsync(connection, armed);
                lock (_gate)
                {
                    _connections.RemoveAll(task => task.IsCompleted);
                    _connections.Add(serving);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task RunArmedAsync(Socket connection, Armed armed)
    {
        armed.Accepted.TrySetResult();
        try
        {
            using (connection)
            {
                await Task.Yield();
                await armed.Behaviour(connection, _stop.Token);
            }

            armed.Finished.TrySetResult();
        }
        catch (Exception e)
        {
            armed.Finished.TrySetException(e);
        }
    }

    private async Task EchoAsync(Socket connection)
    {
        using (connection)
        {
            byte[] buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    int n = await connection.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (n == 0)
                    {
                        break;
                    }

                    await connection.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
                }

                connection.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting.WaitAsync(TimeSpan.FromSeconds(10));
        Task[] open;
        lock (_gate)
        {
            open = [.. _connections];
        }

        await Task.WhenAll(open).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }

    private sealed class Armed(Behaviour behaviour)
    {
        internal Behaviour Behaviour { get; } = behaviour;

        internal TaskCompletionSource Accepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
