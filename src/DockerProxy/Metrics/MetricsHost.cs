using System.Runtime.InteropServices;
using DockerProxy.Cli;
using DockerProxy.Logging;
using DockerProxy.Native;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Metrics;

/// <summary>
/// What reads the instruments in this process: the -metrics-listen exposition and a one-line summary
/// in the log on SIGUSR1. Neither exists unless asked for or visible: with dockerd's defaults (no
/// flag, stderr on /dev/null) nothing is made, the instruments stay disabled, and SIGUSR1 stays
/// ignored as in the original.
/// </summary>
internal sealed class MetricsHost : IAsyncDisposable
{
    private readonly MetricsCollector _collector;
    private readonly MetricsServer? _server;
    private readonly PosixSignalRegistration? _summarySignal;
    private readonly ILogger _logger;

    private MetricsHost(MetricsCollector collector, MetricsServer? server, ILogger logger)
    {
        _collector = collector;
        _server = server;
        _logger = logger;
        if (logger.IsEnabled(LogLevel.Information))
        {
            // StopSignal set SIGUSR1 to ignored (the original's disposition), and .NET leaves an
            // ignored signal ignored: back to the default first, then handled at once.
            _ = Libc.Signal(Libc.SigUsr1, Libc.SigDfl);
            _summarySignal = PosixSignalRegistration.Create((PosixSignal)Libc.SigUsr1, OnSummarySignal);
        }
    }

    /// <summary>Null when nobody would read the metrics. Binds -metrics-listen now (throws StartupException).</summary>
    internal static MetricsHost? Create(ProxyOptions options, ILogger logger)
    {
        if (options.MetricsListen is null && !logger.IsEnabled(LogLevel.Information))
        {
            return null;
        }

        var collector = new MetricsCollector();
        try
        {
            MetricsServer? server = options.MetricsListen is { } listen ? MetricsServer.Bind(listen, collector, logger) : null;
            return new MetricsHost(collector, server, logger);
        }
        catch
        {
            collector.Dispose();
            throw;
        }
    }

    internal void Start(CancellationToken stoppingToken)
    {
        if (_server is not null)
        {
            _server.Start(stoppingToken);
            ServiceLog.MetricsListening(_logger, _server.LocalEndPoint);
        }
    }

    private void OnSummarySignal(PosixSignalContext context)
    {
        context.Cancel = true; // SIGUSR1's default action would end the process
        ServiceLog.MetricsSummary(_logger, _collector.Summary());
    }

    public async ValueTask DisposeAsync()
    {
        _summarySignal?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _collector.Dispose();
    }
}
