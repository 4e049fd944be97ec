using System.Runtime.InteropServices;

namespace DockerProxy.Hosting;

/// <summary>
/// SIGHUP as "re-read the config file", installed only when there is one (-config): without it
/// SIGHUP keeps its default action and ends the process, as the original's does (the Go runtime
/// leaves SIGHUP at its default unless a program asks for it). Signals that arrive while a
/// reload is pending are folded into it: the file is read once, after the last of them.
/// </summary>
internal sealed class ReloadSignal : IDisposable
{
    private readonly SemaphoreSlim _pending = new(0, 1);
    private readonly PosixSignalRegistration _registration;

    internal ReloadSignal() => _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);

    /// <summary>Completes at the next SIGHUP (at once if one came since the last wait).</summary>
    internal Task WaitAsync(CancellationToken cancellationToken) => _pending.WaitAsync(cancellationToken);

    public void Dispose()
    {
        _registration.Dispose();
        _pending.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // handled: not the default action (which ends the process)
        try
        {
            _pending.Release();
        }
        catch (SemaphoreFullException)
        {
            // A reload is pending already: it reads the file as it is then.
        }
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
    }
}
