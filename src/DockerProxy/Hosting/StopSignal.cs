using System.Runtime.InteropServices;
using DockerProxy.Native;

namespace DockerProxy.Hosting;

/// <summary>
/// The signals dockerd uses: SIGINT to stop a proxy, SIGTERM when dockerd itself dies
/// (parent-death signal). Either ends the process within milliseconds with status 0 (newest dockerd
/// treats any other status as a failed unmap). SIGUSR1, SIGUSR2 and SIGPIPE are ignored as the Go
/// runtime ignores them; SIGHUP keeps its default action (the process ends), as the original's.
/// </summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private string? _received;

    internal StopSignal()
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

    /// <summary>"SIGINT" or "SIGTERM" once one arrived.</summary>
    internal string? Received => Volatile.Read(ref _received);

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _stop.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // handled here: no default action
        _ = Interlocked.CompareExchange(ref _received, context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM", null);
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already shutting down.
        }
    }
}
