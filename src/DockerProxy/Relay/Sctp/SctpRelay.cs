using System.Net;
using System.Net.Sockets;
using DockerProxy.Logging;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Sctp;

/// <summary>
/// Accepts SCTP associations on one listener and relays each to the backend (moby
/// cmd/docker-proxy/sctp_proxy_linux.go), keeping every message whole with its stream id, PPID and
/// unordered flag. As the TCP relay, a failed accept backs off instead of ending the relay, and
/// disposing stops accepting, cuts every association and waits for each to finish.
/// </summary>
internal sealed class SctpRelay : IRelay
{
    private readonly Socket _listener;
    private readonly IPEndPoint _container;
    private readonly ILogger _logger;
    private readonly AcceptBackoff _backoff;
    private readonly HashSet<SctpAssociation> _associations = [];
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _gate = new();
    private bool _stopped;

    internal SctpRelay(Socket listener, IPEndPoint container, ILogger logger, TimeProvider time)
    {
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
            Socket? client = await _backoff.AcceptAsync(_listener, _logger, LocalEndPoint, stoppingToken);
            if (client is null)
            {
                break;
            }

            Log.Accepted(_logger, _logger.IsEnabled(LogLevel.Debug) ? client.RemoteEndPoint : null);
            Start(new SctpAssociation(client, _container, _logger));
        }
    }

    /// <summary>Associations being relayed now.</summary>
    internal int OpenAssociations
    {
        get
        {
            lock (_gate)
            {
                return _associations.Count;
            }
        }
    }

    private void Start(SctpAssociation association)
    {
        lock (_gate)
        {
            if (_stopped)
            {
                association.Abort();
                return;
            }

            _associations.Add(association);
        }

        _ = RunAssociationAsync(association);
    }

    private async Task RunAssociationAsync(SctpAssociation association)
    {
        try
        {
            await association.RunAsync();
        }
        finally
        {
            lock (_gate)
            {
                _associations.Remove(association);
                if (_stopped && _associations.Count == 0)
                {
                    _drained.TrySetResult();
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        SctpAssociation[] open;
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            open = [.. _associations];
            if (open.Length == 0)
            {
                _drained.TrySetResult();
            }
        }

        _listener.Dispose();
        foreach (SctpAssociation association in open)
        {
            association.Abort();
        }

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
