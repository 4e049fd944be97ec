using System.Runtime.InteropServices;

namespace DockerProxy.Native;

/// <summary>struct iovec: one buffer of a scatter/gather call.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    public void* Base;
    public nuint Length;
}
