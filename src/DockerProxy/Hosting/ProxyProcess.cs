using System.Reflection;
using DockerProxy.Cli;
using DockerProxy.Logging;
using DockerProxy.Metrics;
using DockerProxy.Native;
using DockerProxy.Relay;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Hosting;

/// <summary>
/// The process contract (moby cmd/docker-proxy/main_linux.go): read the flags, report on fd 3
/// once listening or failed, relay until SIGINT/SIGTERM, exit with the original's statuses.
/// </summary>
internal static class ProxyProcess
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private const string EngineThreads = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    internal static async Task<int> RunAsync(string[] args, Func<string, string?> environment, TextWriter stdout, TextWriter stderr)
    {
        // fds 3 and 4 must not leak into anything this process might ever start.
        Libc.SetCloseOnExec(3);
        Libc.SetCloseOnExec(InheritedListener.Fd);

        FlagParseResult parsed = GoFlagParser.Parse(args);
        switch (parsed.Outcome)
        {
            case FlagParseOutcome.Help:
                HelpWriter.Write(stdout);
                return ExitCodes.Success;
            case FlagParseOutcome.Error:
                await stderr.WriteLineAsync(parsed.Error);
                HelpWriter.Write(stderr);
                return ExitCodes.FlagError;
        }

        if (parsed.Values.IsSet(Flags.Version) || parsed.Values.IsSet(Flags.VersionShort))
        {
            if (IsTrue(parsed.Values.Get(Flags.Version)) || IsTrue(parsed.Values.Get(Flags.VersionShort)))
            {
                await stdout.WriteLineAsync(VersionText());
                return ExitCodes.Success;
            }
        }

        // Run socket continuations on the socket engine's thread instead of hopping to the thread
        // pool: every relay loop here is non-blocking, and the side-by-side benchmark measured
        // the hop as the largest cost per datagram and per small message (docs/performance.md).
        // Must be set before the first socket exists; an explicit setting is respected.
        if (environment(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }

        StopSignal stop = StopSignal.Install();
        bool activated = SocketActivation.Detect(environment);
        StatusPipe status = StatusPipe.Open(activated);
        ServiceNotifier? notifier = ServiceNotifier.Create(environment);

        ProxyOptions options;
        try
        {
            options = OptionsBinder.Bind(parsed.Values, environment);
            if (activated)
            {
                options = options with { UseListenFd = true, ListenFd = SocketActivation.Fd };
            }
        }
        catch (StartupException e)
        {
            using ILoggerFactory fallback = LoggingSetup.Create(LogLevel.Information, LogFormat.Text);
            return Fail(status, fallback.CreateLogger("docker-proxy"), e.Message);
        }

        // With inline completions the engine starts one epoll thread per core. One is enough for a
        // TCP or SCTP proxy: each costs about 20 KiB of private memory in every idle process, and
        // the side-by-side benchmark showed no loss with one (docs/performance.md). A UDP relay
        // does not use the engine (it has its own event loop). Set before the first asynchronous
        // socket operation; an explicit setting is respected.
        if (environment(EngineThreads) is null && options.Mappings is null)
        {
            Environment.SetEnvironmentVariable(EngineThreads, "1");
        }

        using ILoggerFactory loggers = LoggingSetup.Create(options.LogLevel, options.LogFormat);
        ILogger logger = loggers.CreateLogger("docker-proxy");

        IRelay relay;
        try
        {
            relay = RelayFactory.Create(options, loggers, TimeProvider.System);
        }
        catch (StartupException e)
        {
            return Fail(status, logger, e.Message);
        }

        MetricsHost? metrics;
        try
        {
            metrics = MetricsHost.Create(options, logger); // null unless asked for or visible
        }
        catch (StartupException e)
        {
            await relay.DisposeAsync();
            return Fail(status, logger, e.Message);
        }

        if (options.User is string user)
        {
            try
            {
                PrivilegeDrop.To(user); // listening already: nothing left that needs root
            }
            catch (StartupException e)
            {
                await relay.DisposeAsync();
                if (metrics is not null)
                {
                    await metrics.DisposeAsync();
                }

                return Fail(status, logger, e.Message);
            }
        }

        await using (metrics)
        await using (relay)
        {
            if (activated)
            {
                ServiceLog.SocketActivated(logger, SocketActivation.Fd);
            }
            else if (options.UseListenFd)
            {
                Log.ListenerAdopted(logger, InheritedListener.Fd);
            }

            if (options.Mappings is null)
            {
                Log.Listening(logger, options.Proto, relay.LocalEndPoint, options.Container); // a set logs its own
            }

            if (!status.IsPresent)
            {
                Log.NoStatusPipe(logger);
            }

            metrics?.Start(stop.Token);
            status.ReportReady();
            notifier?.Ready();
            try
            {
                await relay.RunAsync(stop.Token);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Log.RelayFailed(logger, relay.LocalEndPoint, e);
                return ExitCodes.StartupFailure;
            }

            Log.Stopping(logger, stop.Received ?? "close");
            notifier?.Stopping();
            if (options.DrainTimeout is TimeSpan drain)
            {
                await relay.DrainAsync(drain, stop.Again);
            }

            if (logger.IsEnabled(LogLevel.Debug))
            {
                GCMemoryInfo gc = GC.GetGCMemoryInfo();
                Log.GcSummary(logger, GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), gc.HeapSizeBytes, gc.TotalCommittedBytes, GC.GetTotalAllocatedBytes());
            }
        }

        return ExitCodes.Success;
    }

    private static int Fail(StatusPipe status, ILogger logger, string reason)
    {
        Log.StartupFailed(logger, reason);
        status.ReportFailure(reason);
        return ExitCodes.StartupFailure;
    }

    private static bool IsTrue(string? value) => value is not null && GoSyntax.ParseBool(value) == true;

    // "docker-proxy (commit X) version Y", the original's -v line.
    private static string VersionText()
    {
        string informational = typeof(ProxyProcess).Assembly
            .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        int plus = informational.IndexOf('+', StringComparison.Ordinal);
        string version = plus < 0 ? informational : informational[..plus];
        string commit = plus < 0 ? "unknown" : informational[(plus + 1)..];
        return $"docker-proxy (commit {commit}) version {version}";
    }
}
