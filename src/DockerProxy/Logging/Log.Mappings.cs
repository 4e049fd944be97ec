using DockerProxy.Relay.Multi;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Logging;

/// <summary>The events of a process with many mappings (-map, -config) and its reloads.</summary>
internal static partial class Log
{
    [LoggerMessage(EventIds.MappingsListening, LogLevel.Information, "Proxying {Count} mappings ({Tcp} TCP, {Udp} UDP)")]
    internal static partial void MappingsListening(ILogger logger, int count, int tcp, int udp);

    [LoggerMessage(EventIds.MappingListening, LogLevel.Debug, "Proxying {Mapping} ({Origin})")]
    internal static partial void MappingListening(ILogger logger, Mapping mapping, string origin);

    [LoggerMessage(EventIds.Reloaded, LogLevel.Information, "Reloaded {File}: {Added} mappings added, {Removed} removed, {Kept} kept")]
    internal static partial void Reloaded(ILogger logger, string file, int added, int removed, int kept);

    [LoggerMessage(EventIds.ReloadFailed, LogLevel.Error, "Reload of {File} failed; the mappings stay as they were: {Reason}")]
    internal static partial void ReloadFailed(ILogger logger, string file, string reason);

    [LoggerMessage(EventIds.ReloadMappingFailed, LogLevel.Error, "Reload: {Origin} could not take over its port: {Reason}")]
    internal static partial void ReloadMappingFailed(ILogger logger, string origin, string reason);

    [LoggerMessage(EventIds.MappingRetired, LogLevel.Debug, "No longer listening for {Mapping}; {Connections} open connections finish on their own")]
    internal static partial void MappingRetired(ILogger logger, Mapping mapping, int connections);

    [LoggerMessage(EventIds.FileLimitRaised, LogLevel.Debug, "Open file limit raised from {Before} to {After}")]
    internal static partial void FileLimitRaised(ILogger logger, ulong before, ulong after);

    [LoggerMessage(EventIds.MappingFailed, LogLevel.Error, "Relay {Mapping} failed")]
    internal static partial void MappingFailed(ILogger logger, Mapping mapping, Exception exception);
}
