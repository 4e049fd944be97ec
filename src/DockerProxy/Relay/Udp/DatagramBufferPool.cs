namespace DockerProxy.Relay.Udp;

/// <summary>
/// The receive loops' 64 KiB buffers, shared by every UDP listener of the process: a loop rents
/// one while datagrams are waiting and gives it back before it waits again, so idle listeners
/// hold none (a process with thousands of -map UDP ports would otherwise hold 64 KiB per port).
/// Not ArrayPool.Shared: a loop may rent on one thread and return on another, and that pool
/// keeps up to 32 arrays per core in that case; here at most <see cref="MaxKept"/> are kept.
/// </summary>
internal sealed class DatagramBufferPool
{
    private const int MaxKept = 4;

    private readonly Stack<byte[]> _free = new(MaxKept);
    private readonly object _gate = new();

    internal static DatagramBufferPool Shared { get; } = new();

    /// <summary>A buffer every legal datagram fits in.</summary>
    internal byte[] Rent()
    {
        lock (_gate)
        {
            if (_free.Count > 0)
            {
                return _free.Pop();
            }
        }

        return GC.AllocateUninitializedArray<byte>(UdpListener.MaxDatagram);
    }

    internal void Return(byte[] buffer)
    {
        lock (_gate)
        {
            if (_free.Count < MaxKept)
            {
                _free.Push(buffer);
            }
        }
    }
}
