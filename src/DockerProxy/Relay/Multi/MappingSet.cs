using System.Net;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using DockerProxy.Cli;
using DockerProxy.Hosting;
using DockerProxy.Logging;
using DockerProxy.Native;
using DockerProxy.Relay.Tcp;
using DockerProxy.Relay.Udp;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Multi;

/// <summary>
/// Many mappings in one process (-map, -config): one TCP or UDP relay per host port, all on the
/// process's one socket engine, sharing its buffer pools, each with the same limits. It is itself
/// an <see cref="IRelay"/>, so the process contract does not change.
///
/// Start is all or nothing: every listener is bound before any relay exists, and one failure
/// closes all of them. With -config, SIGHUP re-reads the file: mappings that did not change keep
/// their relay and listening socket untouched; removed TCP mappings stop listening while their
/// open connections finish on their own; removed UDP mappings close (a session has no end to wait
/// for, and its replies need the listening socket); new ones are bound. A file that does not read,
/// or a new mapping that cannot bind, leaves the set as it was.
/// </summary>
internal sealed class MappingSet : IRelay
{
    // How often a removed TCP mapping looks whether its last connection has ended.
    private static readonly TimeSpan RetirePoll = TimeSpan.FromSeconds(1);

    private readonly MappingSource _source;
    private readonly TcpRelayOptions _tcp;
    private readonly UdpRelayOptions _udp;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ReloadSignal? _reload;
    private readonly Dictionary<Mapping, Served> _served = [];
    private readonly List<Task> _retiring = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource<ExceptionDispatchInfo> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private MappingSet(MappingSource source, TcpRelayOptions tcp, UdpRelayOptions udp, ILoggerFactory loggers, TimeProvider time)
    {
        _source = source;
        _tcp = tcp;
        _udp = udp;
        _loggers = loggers;
        _logger = loggers.CreateLogger<MappingSet>();
        _time = time;
        if (source.ConfigFile is not null)
        {
            _reload = new ReloadSignal(); // before "0\n": a SIGHUP right after start must not end the process
        }
    }

    /// <summary>The first mapping's listener (the set has many; this is for the one-line log).</summary>
    public EndPoint LocalEndPoint { get; private set; } = new IPEndPoint(IPAddress.Any, 0);

    /// <summary>Mappings served now (removed ones that still finish connections not counted).</summary>
    internal int Count => _served.Count;

    /// <summary>Reads the mappings and binds every listener, or throws a <see cref="StartupException"/>
    /// naming the mapping that failed, with none left bound.</summary>
    internal static MappingSet Start(MappingSource source, TcpRelayOptions tcp, UdpRelayOptions udp, ILoggerFactory loggers, TimeProvider time)
    {
        List<MappingEntry> entries = source.Load();
        CheckSupported(entries);
        var set = new MappingSet(source, tcp, udp, loggers, time);
        try
        {
            if (FileLimit.RaiseSoftToHard() is { } limit && limit.After != limit.Before)
            {
                Log.FileLimitRaised(set._logger, limit.Before, limit.After);
            }

            List<Bound> bound = BindAll(entries);
            foreach (Bound listener in bound)
            {
                set.Serve(listener);
            }
        }
        catch
        {
            set._reload?.Dispose();
            throw;
        }

        set.LocalEndPoint = set._served.Values.First().Relay.LocalEndPoint;
        int tcpCount = entries.Count(e => e.Mapping.Proto == "tcp");
        Log.MappingsListening(set._logger, entries.Count, tcpCount, entries.Count - tcpCount);
        return set;
    }

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        // Ready now ("0\n" is out): setting up thousands of mappings left megabytes of garbage that
        // a quiet process may not collect for a long time. One full collection, as after a reload.
        MemoryTrim.Now();
        foreach (Served served in _served.Values)
        {
            served.Run = RunOneAsync(served);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            Task reload = _reload is null ? Task.Delay(Timeout.Infinite, stoppingToken) : _reload.WaitAsync(stoppingToken);
            Task done = await Task.WhenAny(reload, _failed.Task);
            if (done != reload || !reload.IsCompletedSuccessfully)
            {
                break;
            }

            Reload();
        }

        foreach (Served served in _served.Values)
        {
            served.Stop.Cancel();
        }

        await Task.WhenAll(_served.Values.Select(s => s.Run ?? Task.CompletedTask));
        if (_failed.Task.IsCompleted)
        {
            (await _failed.Task).Throw();
        }
    }

    /// <summary>
    /// Graceful drain of every mapping at once, within the one deadline: each TCP relay closes its
    /// listener and waits for its own connections; removed mappings still finishing theirs are
    /// waited for too. Whatever is open afterwards is cut by <see cref="DisposeAsync"/>.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout, CancellationToken abandon)
    {
        var draining = new List<Task>(_served.Count + 1);
        foreach (Served served in _served.Values)
        {
            draining.Add(served.Relay.DrainAsync(timeout, abandon));
        }

        draining.Add(Task.WhenAll(_retiring).WaitAsync(timeout, abandon));
        try
        {
            await Task.WhenAll(draining);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // The deadline, or a second signal: what is left is cut on dispose.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        _reload?.Dispose();
        await Task.WhenAll(_served.Values.Select(s => s.Relay.DisposeAsync().AsTask()));
        await Task.WhenAll(_retiring);
        foreach (Served served in _served.Values)
        {
            served.Stop.Dispose();
        }

        _stopping.Dispose();
    }

    private void Reload()
    {
        string file = _source.ConfigFile!;
        List<MappingEntry> entries;
        try
        {
            entries = _source.Load();
            CheckSupported(entries);
        }
        catch (StartupException e)
        {
            Log.ReloadFailed(_logger, file, e.Message);
            return;
        }

        var wanted = new Dictionary<Mapping, MappingEntry>();
        foreach (MappingEntry entry in entries)
        {
            wanted[entry.Mapping] = entry;
        }

        List<Served> removed = _served.Values.Where(s => !wanted.ContainsKey(s.Mapping)).ToList();
        var freed = removed.Select(s => (s.Mapping.Proto, s.Mapping.Host)).ToHashSet();
        List<MappingEntry> added = entries.Where(e => !_served.ContainsKey(e.Mapping)).ToList();

        // First what binds beside the current set: if any of it fails, nothing has changed yet.
        List<Bound> bound;
        try
        {
            bound = BindAll(added.Where(e => !freed.Contains((e.Mapping.Proto, e.Mapping.Host))));
        }
        catch (StartupException e)
        {
            Log.ReloadFailed(_logger, file, e.Message);
            return;
        }

        foreach (Served served in removed)
        {
            _ = _served.Remove(served.Mapping);
            _retiring.Add(RetireAsync(served));
        }

        _ = _retiring.RemoveAll(t => t.IsCompleted);

        // Then the mappings that take over a removed one's port (a new container port, say): the
        // old listener is closed now, so only someone else grabbing the port meanwhile fails it.
        foreach (MappingEntry entry in added.Where(e => freed.Contains((e.Mapping.Proto, e.Mapping.Host))))
        {
            try
            {
                bound.AddRange(BindAll([entry]));
            }
            catch (StartupException e)
            {
                Log.ReloadMappingFailed(_logger, entry.Origin, e.Message);
            }
        }

        foreach (Bound listener in bound)
        {
            Served served = Serve(listener);
            served.Run = RunOneAsync(served);
        }

        Log.Reloaded(_logger, file, bound.Count, removed.Count, _served.Count - bound.Count);

        // As at start: reading and binding a large file leaves garbage a quiet process may keep
        // for a long time. Reloads are rare.
        MemoryTrim.Now();
    }

    // Stops accepting at once (the port is free again when this returns); a TCP relay is disposed
    // only once its last connection has ended, or when the process stops.
    private async Task RetireAsync(Served served)
    {
        served.Stop.Cancel();
        await (served.Run ?? Task.CompletedTask);
        if (served.Relay is TcpRelay tcp)
        {
            Log.MappingRetired(_logger, served.Mapping, tcp.OpenConnections);
            try
            {
                while (tcp.OpenConnections > 0)
                {
                    await Task.Delay(RetirePoll, _time, _stopping.Token);
                }
            }
            catch (OperationCanceledException)
            {
                // The process is stopping: the connections are cut with the rest.
            }
        }

        await served.Relay.DisposeAsync();
        served.Stop.Dispose();
    }

    private async Task RunOneAsync(Served served)
    {
        try
        {
            await served.Relay.RunAsync(served.Stop.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log.MappingFailed(_logger, served.Mapping, e);
            _ = _failed.TrySetResult(ExceptionDispatchInfo.Capture(e));
        }
    }

    private Served Serve(Bound listener)
    {
        Mapping mapping = listener.Entry.Mapping;
        IRelay relay = listener.Tcp is Socket socket
            ? new TcpRelay(socket, mapping.Container, _loggers.CreateLogger<TcpRelay>(), _time, _tcp)
            : new UdpRelay(listener.Udp!, mapping.Container, _udp, _loggers.CreateLogger<UdpRelay>(), _time);
        var served = new Served(mapping, relay);
        _served.Add(mapping, served);
        Log.MappingListening(_logger, mapping, listener.Entry.Origin);
        return served;
    }

    // Every listener, or none: on the first failure the ones bound so far are closed and the
    // failure is thrown, naming where the mapping was written.
    private static List<Bound> BindAll(IEnumerable<MappingEntry> entries)
    {
        var bound = new List<Bound>();
        try
        {
            foreach (MappingEntry entry in entries)
            {
                try
                {
                    bound.Add(entry.Mapping.Proto == "tcp"
                        ? new Bound(entry, ListenerBinder.BindTcp(entry.Mapping.Host), null)
                        : new Bound(entry, null, UdpListener.Bind(entry.Mapping.Host)));
                }
                catch (StartupException e)
                {
                    // Out of descriptors at the listener's socket(2): say which limit.
                    string limit = e.InnerException is SocketException { SocketErrorCode: SocketError.TooManyOpenSockets } && FileLimit.Soft() is ulong soft
                        ? $" (the open file limit is {soft}: raise the hard limit, e.g. ulimit -Hn or LimitNOFILE=)"
                        : string.Empty;
                    throw new StartupException($"{entry.Origin}: {e.Message}{limit}", e);
                }
            }
        }
        catch
        {
            foreach (Bound listener in bound)
            {
                listener.Tcp?.Dispose();
                listener.Udp?.Dispose();
            }

            throw;
        }

        return bound;
    }

    private static void CheckSupported(List<MappingEntry> entries)
    {
        // A set serves TCP and UDP; SCTP is served by a process of its own (-proto sctp).
        if (entries.FirstOrDefault(e => e.Mapping.Proto == "sctp") is { } sctp)
        {
            throw new StartupException($"{sctp.Origin}: failed to listen on {sctp.Mapping.Host}: SCTP is not served by -map or -config; run a proxy of its own with -proto sctp");
        }
    }

    private sealed record Bound(MappingEntry Entry, Socket? Tcp, UdpListener? Udp);

    private sealed class Served(Mapping mapping, IRelay relay)
    {
        internal Mapping Mapping { get; } = mapping;

        internal IRelay Relay { get; } = relay;

        // Ends this relay's accept or receive loop (and closes its listener) without touching the others.
        internal CancellationTokenSource Stop { get; } = new();

        internal Task? Run { get; set; }
    }
}
