using System.Runtime.InteropServices;
using DockerProxy.Native;

namespace DockerProxy.Hosting;

/// <summary>
/// The signals dockerd uses: SIGINT to stop a proxy, SIGTERM when dockerd itself dies
/// (parent-death signal). Either ends the process within milliseconds with status 0 (newest dockerd
/// treats any other status as a failed unmap). SIGUSR1, SIGUSR2 and SIGPIPE are ignored as the Go
/// runtime ignores them; SIGHUP keeps its default action (the process ends), as the original's,
/// unless -config asks for reloads (<see cref="ReloadSignal"/>).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "One instance, alive as long as the process: see Install.")]
internal sealed class StopSignal
{
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _again = new();
    private long _firstAt;
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private string? _received;

    /// <summary>
    /// Installs the handlers for the rest of the process's life. They are never removed on purpose:
    /// removing them restores the default action, and a second SIGTERM during exit (dockerd's
    /// parent-death signal arrives once per dying dockerd thread, several within a millisecond)
    /// would then kill the process instead of letting it exit 0.
    /// </summary>
    internal static StopSignal Install() => s_installed ??= new StopSignal();

    private static StopSignal? s_installed;

    private const long RepeatWindowMs = 1000;

    private StopSignal()
    {
        _ = Libc.Signal(Libc.SigUsr1, Libc.SigIgn);
        _ = Libc.Signal(Libc.SigUsr2, Libc.SigIgn);
        _ = Libc.Signal(Libc.SigPipe, Libc.SigIgn);

        // A shell starts background jobs with SIGINT ignored, and .NET then leaves it so; Go's
        // signal.Notify un-ignores it, so "docker-proxy ... &" stops on SIGINT there: here too.
        _ = Libc.Signal(Libc.SigInt, Libc.SigDfl);
        _ = Libc.Signal(Libc.SigTerm, Libc.SigDfl);
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Fires on the first SIGINT or SIGTERM.</summary>
    internal CancellationToken Token => _stop.Token;

    /// <summary>
    /// Fires on a further SIGINT or SIGTERM at least a second after the first: it ends a graceful
    /// drain at once. Repeats within that second are taken as one: a dying dockerd's parent-death
    /// SIGTERM arrives once per thread, several within a millisecond.
    /// </summary>
    internal CancellationToken Again => _again.Token;

    /// <summary>"SIGINT" or "SIGTERM" once one arrived.</summary>
    internal string? Received => Volatile.Read(ref _received);

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // handled here: no default action
        long now = Environment.TickCount64;
        if (Interlocked.CompareExchange(ref _received, context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM", null) is null)
        {
            Volatile.Write(ref _firstAt, now);
            _stop.Cancel();
        }
        else if (now - Volatile.Read(ref _firstAt) >= RepeatWindowMs)
        {
            _again.Cancel(); // only a drain waits on it; without one the process is exiting already
        }
    }
}
