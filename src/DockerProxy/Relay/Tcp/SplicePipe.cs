using DockerProxy.Native;

namespace DockerProxy.Relay.Tcp;

/// <summary>A kernel pipe used as splice's buffer: non-blocking, close-on-exec, sized once.</summary>
internal sealed unsafe class SplicePipe : IDisposable
{
    private SplicePipe(int readFd, int writeFd, int size)
    {
        ReadFd = readFd;
        WriteFd = writeFd;
        Size = size;
    }

    internal int ReadFd { get; }

    internal int WriteFd { get; }

    /// <summary>The pipe's capacity in bytes: the most one splice moves.</summary>
    internal int Size { get; }

    /// <summary>A new pipe of (about) size bytes, or null when no fd is left (EMFILE, ENFILE).</summary>
    internal static SplicePipe? TryCreate(int size)
    {
        int* fds = stackalloc int[2];
        if (Libc.Pipe2(fds, Libc.OCloExec | Libc.ONonBlock) != 0)
        {
            return null;
        }

        int granted = Libc.Fcntl(fds[1], Libc.FSetPipeSz, size);
        if (granted <= 0)
        {
            granted = 64 * 1024; // the kernel's default (16 pages) when resizing is refused
        }

        return new SplicePipe(fds[0], fds[1], granted);
    }

    public void Dispose()
    {
        _ = Libc.Close(ReadFd);
        _ = Libc.Close(WriteFd);
    }
}
