using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace DockerProxy.Native;

/// <summary>
/// A socket's fd for the duration of a raw syscall: the handle is ref-counted meanwhile, so a
/// concurrent Dispose cannot close the fd (and let it be reused) under the call. Fd is -1 once the
/// socket was disposed.
/// </summary>
internal ref struct FdLease
{
    private readonly SafeHandle? _handle;
    private readonly bool _added;

    internal FdLease(Socket socket)
    {
        Fd = -1;
        try
        {
            SafeHandle handle = socket.SafeHandle;
            handle.DangerousAddRef(ref _added);
            _handle = handle;
            Fd = (int)handle.DangerousGetHandle();
        }
        catch (ObjectDisposedException)
        {
            _added = false;
        }
    }

    internal int Fd { get; }

    public readonly void Dispose()
    {
        if (_added)
        {
            _handle!.DangerousRelease();
        }
    }
}
