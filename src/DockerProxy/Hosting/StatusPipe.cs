using DockerProxy.Native;

namespace DockerProxy.Hosting;

/// <summary>
/// fd 3, the only channel back to dockerd (moby cmd/docker-proxy/main_linux.go, parentPipeFd).
/// Exactly one status is written, with one write(2): <c>0\n</c> once listening, or
/// <c>1\n&lt;error&gt;</c>. dockerd reads it once and needs exactly that. A proxy started by hand has
/// no fd 3 (or one that is a socket, under socket activation): then nothing is written and the
/// proxy runs anyway, unlike the Go original, which closes its own listener by mistake.
/// </summary>
internal sealed class StatusPipe
{
    private const int Fd = 3;
    private int _state; // 0: nothing written yet, 1: done

    private StatusPipe(bool present) => IsPresent = present;

    /// <summary>Whether a status channel was inherited.</summary>
    internal bool IsPresent { get; }

    /// <summary>Whether the status was written (or would have been, had there been a channel).</summary>
    internal bool HasReported => Volatile.Read(ref _state) != 0;

    /// <summary>The process's status channel, once <see cref="Open(bool)"/> has looked at fd 3.</summary>
    internal static StatusPipe? Current { get; private set; }

    /// <summary>Looks at fd 3: passed by the parent and not a socket means a status channel.</summary>
    internal static StatusPipe Open() => Open(socketActivated: false);

    /// <summary>Under socket activation fd 3 is the listener (<see cref="SocketActivation"/>): no status pipe.</summary>
    internal static StatusPipe Open(bool socketActivated)
    {
        bool present = !socketActivated && InheritedFds.Passed(Fd) && Libc.GetIntOption(Fd, Libc.SolSocket, Libc.SoType) is null;
        var pipe = new StatusPipe(present);
        Current = pipe;
        return pipe;
    }

    /// <summary>Reports a successful start: "0\n".</summary>
    internal void ReportReady() => Report("0\n"u8);

    /// <summary>Reports a failed start: "1\n" and the error text, no trailing newline.</summary>
    internal void ReportFailure(string message)
    {
        byte[] text = System.Text.Encoding.UTF8.GetBytes("1\n" + message);
        Report(text);
    }

    private unsafe void Report(ReadOnlySpan<byte> status)
    {
        if (Interlocked.Exchange(ref _state, 1) != 0 || !IsPresent)
        {
            return;
        }

        // Non-blocking, as the original: a parent that stopped reading must not wedge the proxy.
        int flags = Libc.Fcntl(Fd, Libc.FGetFl, 0);
        if (flags >= 0)
        {
            _ = Libc.Fcntl(Fd, Libc.FSetFl, flags | Libc.ONonBlock);
        }

        fixed (byte* bytes = status)
        {
            nint written;
            int attempts = 0;
            do
            {
                written = Libc.Write(Fd, bytes, status.Length); // one write(2): dockerd reads once
            }
            while (written < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Libc.EIntr && ++attempts < 3);
        }

        _ = Libc.Close(Fd);
    }
}
