using System.Net;
using System.Net.Sockets;
using DockerProxy.Logging;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// Accepts on one listener and relays every connection to one backend. Unlike the original, a
/// failed accept (out of fds, buffers) never ends the relay: it backs off and accepts again.
/// Disposing stops accepting, cuts every open connection and waits for each one to finish.
/// </summary>
internal sealed class TcpRelay : IRelay
{
    private readonly Socket _listener;
    private readonly IPEndPoint _container;
    private readonly ILogger _logger;
    private readonly AcceptBackoff _backoff;
    private readonly TcpRelayOptions _options;
    private readonly HashSet<TcpConnection> _connections = [];
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _gate = new();
    private bool _stopped;

    internal TcpRelay(Socket listener, IPEndPoint container, ILogger logger, TimeProvider time)
        : this(listener, container, logger, time, TcpRelayOptions.Default)
    {
    }

    internal TcpRelay(Socket listener, IPEndPoint container, ILogger logger, TimeProvider time, TcpRelayOptions options)
    {
        _options = options;
        _listener = listener;
        _container = container;
        _logger = logger;
        _backoff = new AcceptBackoff(time);
        LocalEndPoint = listener.LocalEndPoint!;
    }

    public EndPoint LocalEndPoint { get; }

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        using CancellationTokenRegistration registration = stoppingToken.Register(static state => ((Socket)state!).Dispose(), _listener);
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(CancellationToken.None); // the token closes the listener instead
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e) when (SocketErrors.IsListenerClosed(e.SocketErrorCode) && stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException e)
            {
                // EMFILE, ENFILE, ENOBUFS...: the original exits here (moby#6402) and the port stays
                // dead until the container restarts. Wait a little for fds to free up and go on.
                TimeSpan delay = _backoff.NextDelay();
                if (_backoff.ShouldReport(out int suppressed))
                {
                    Log.AcceptFailed(_logger, LocalEndPoint, e.SocketErrorCode, suppressed, (int)delay.TotalMilliseconds);
                }

                try
                {
                    await Task.Delay(delay, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                continue;
            }

            _backoff.Reset();
            Log.Accepted(_logger, _logger.IsEnabled(LogLevel.Debug) ? client.RemoteEndPoint : null);
            Start(new TcpConnection(client, _container, _logger, _options));
        }
    }

    private void Start(TcpConnection connection)
    {
        lock (_gate)
        {
            if (_stopped)
            {
                connection.Abort();
                return;
            }

            _connections.Add(connection);
        }

        _ = RunConnectionAsync(connection);
    }

    private async Task RunConnectionAsync(TcpConnection connection)
    {
        try
        {
            await connection.RunAsync();
        }
        finally
        {
            lock (_gate)
            {
                _connections.Remove(connection);
                if (_stopped && _connections.Count == 0)
                {
                    _drained.TrySetResult();
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        TcpConnection[] open;
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            open = [.. _connections];
            if (open.Length == 0)
            {
                _drained.TrySetResult();
            }
        }

        _listener.Dispose();
        if (open.Length == 0)
        {
            return;
        }

        foreach (TcpConnection connection in open)
        {
            connection.Abort();
        }

        // Every connection ends at once when its sockets close; the bound only guards the stop,
        // which dockerd waits on without a limit.
        try
        {
            await _drained.Task.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
            // Leave the stragglers to process exit.
        }
    }
}
