using DockerProxy.Cli;
using DockerProxy.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serilog;
using Serilog.Events;
using Serilog.Extensions.Logging;
using Serilog.Formatting.Json;
using Serilog.Sinks.SystemConsole.Themes;

namespace DockerProxy.Logging;

/// <summary>
/// The one place Serilog is configured. Everything else sees Microsoft.Extensions.Logging's ILogger.
/// </summary>
internal static class LoggingSetup
{
    private const string TextTemplate = "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {Message:lj}{NewLine}";

    // When stderr is the journal: it stamps the time itself and reads the priority from "<N>".
    private const string JournalTemplate = "<{" + SyslogPriorityEnricher.PropertyName + "}>{Message:lj}{NewLine}";

    /// <summary>
    /// A logger factory writing to stderr at <paramref name="level"/> and above. When stderr is
    /// /dev/null (or closed), as dockerd starts the proxy, nothing can be seen: no logging pipeline
    /// is built at all, which keeps each of the many proxy processes small.
    /// </summary>
    internal static ILoggerFactory Create(Microsoft.Extensions.Logging.LogLevel level, LogFormat format)
    {
        if (StderrDiscarded())
        {
            return NullLoggerFactory.Instance;
        }

        LoggerConfiguration configuration = new LoggerConfiguration().MinimumLevel.Is(ToSerilog(level));
        bool journal = format == LogFormat.Text && StderrIsJournal();
        if (journal)
        {
            configuration = configuration.Enrich.With(new SyslogPriorityEnricher());
        }

        configuration = format == LogFormat.Json
            ? configuration.WriteTo.Console(new JsonFormatter(renderMessage: true), standardErrorFromLevel: LogEventLevel.Verbose)
            : configuration.WriteTo.Console(
                outputTemplate: journal ? JournalTemplate : TextTemplate,
                standardErrorFromLevel: LogEventLevel.Verbose,
                theme: ConsoleTheme.None,
                formatProvider: System.Globalization.CultureInfo.InvariantCulture);

        return new SerilogLoggerFactory(configuration.CreateLogger(), dispose: true);
    }

    // systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connected stdout/stderr to
    // (systemd.exec(5)); it is the journal only if stderr is still that very file.
    private static bool StderrIsJournal() =>
        Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 } stream && stream == FileIdentity.Of(2);

    private static bool StderrDiscarded() => !Libc.IsOpen(2) || Libc.FdTarget(2) == "/dev/null";

    private static LogEventLevel ToSerilog(Microsoft.Extensions.Logging.LogLevel level) => level switch
    {
        Microsoft.Extensions.Logging.LogLevel.Trace => LogEventLevel.Verbose,
        Microsoft.Extensions.Logging.LogLevel.Debug => LogEventLevel.Debug,
        Microsoft.Extensions.Logging.LogLevel.Information => LogEventLevel.Information,
        Microsoft.Extensions.Logging.LogLevel.Warning => LogEventLevel.Warning,
        Microsoft.Extensions.Logging.LogLevel.Error => LogEventLevel.Error,
        _ => LogEventLevel.Fatal,
    };
}
