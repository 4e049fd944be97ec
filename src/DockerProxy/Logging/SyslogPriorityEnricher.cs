using Serilog.Core;
using Serilog.Events;

namespace DockerProxy.Logging;

/// <summary>
/// Adds the syslog priority of each event as "SyslogPriority", for the "&lt;N&gt;" prefix that
/// journald reads from a stream (sd-daemon(3), SD_ERR and friends) when stderr is the journal.
/// </summary>
internal sealed class SyslogPriorityEnricher : ILogEventEnricher
{
    internal const string PropertyName = "SyslogPriority";

    // One cached property per level: no allocation per event.
    private static readonly LogEventProperty[] s_properties =
    [
        new(PropertyName, new ScalarValue(7)), // Verbose: debug
        new(PropertyName, new ScalarValue(7)), // Debug: debug
        new(PropertyName, new ScalarValue(6)), // Information: info
        new(PropertyName, new ScalarValue(4)), // Warning: warning
        new(PropertyName, new ScalarValue(3)), // Error: err
        new(PropertyName, new ScalarValue(2)), // Fatal: crit
    ];

    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory) =>
        logEvent.AddPropertyIfAbsent(s_properties[Math.Clamp((int)logEvent.Level, 0, s_properties.Length - 1)]);
}
