using System.Runtime.InteropServices;

namespace DockerProxy.Native;

/// <summary>struct msghdr (Linux, 64-bit): what recvmsg(2) and sendmsg(2) read and fill.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    public void* Name;
    public uint NameLength;
    public IoVec* Iov;
    public nuint IovLength;
    public void* Control;
    public nuint ControlLength;
    public int Flags;
}
