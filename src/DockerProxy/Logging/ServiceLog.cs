using System.Net;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Logging;

/// <summary>The events of running as a service: socket activation, drain, metrics (ids 4xx).</summary>
internal static partial class ServiceLog
{
    [LoggerMessage(EventIds.SocketActivated, LogLevel.Debug, "Using the listener passed by socket activation on fd {Fd}")]
    internal static partial void SocketActivated(ILogger logger, int fd);

    [LoggerMessage(EventIds.Draining, LogLevel.Information, "Draining {Listen}: no new connections; waiting up to {Timeout} for {Open} open ones")]
    internal static partial void Draining(ILogger logger, EndPoint listen, int open, TimeSpan timeout);

    [LoggerMessage(EventIds.Drained, LogLevel.Information, "Drained {Listen}: {Finished} connections finished, {Cut} cut")]
    internal static partial void Drained(ILogger logger, EndPoint listen, int finished, int cut);

    [LoggerMessage(EventIds.MetricsListening, LogLevel.Information, "Serving metrics on http://{Listen}/metrics")]
    internal static partial void MetricsListening(ILogger logger, EndPoint listen);

    [LoggerMessage(EventIds.MetricsSummary, LogLevel.Information, "Metrics: {Summary}")]
    internal static partial void MetricsSummary(ILogger logger, string summary);

    [LoggerMessage(EventIds.MetricsRequestFailed, LogLevel.Debug, "Metrics request from {Client} failed: {Error}")]
    internal static partial void MetricsRequestFailed(ILogger logger, EndPoint? client, string error);
}
