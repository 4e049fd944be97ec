namespace DockerProxy.Relay.Loop;

/// <summary>
/// The members of an epoll set by token: a token is a slot and its generation, so an event the
/// kernel queued for a socket that was removed (and its slot reused) meanwhile resolves to nothing.
/// Thread-safe: members come and go on any thread while the loop's thread resolves events.
/// </summary>
internal sealed class LoopSlots<T>
    where T : class
{
    private readonly object _gate = new();
    private T?[] _members = new T?[16];
    private uint[] _generations = new uint[16];
    private int[] _free = new int[16];
    private int _freeCount;
    private int _used;

    /// <summary>Takes a slot for member; returns its token.</summary>
    internal ulong Add(T member)
    {
        lock (_gate)
        {
            int slot;
            if (_freeCount > 0)
            {
                slot = _free[--_freeCount];
            }
            else
            {
                if (_used == _members.Length)
                {
                    Array.Resize(ref _members, _used * 2);
                    Array.Resize(ref _generations, _used * 2);
                    Array.Resize(ref _free, _used * 2);
                }

                slot = _used++;
            }

            _members[slot] = member;
            return ((ulong)_generations[slot] << 32) | (uint)slot;
        }
    }

    /// <summary>Frees member's slot, if token still names it; events already queued for it resolve to null.</summary>
    internal void Remove(T member, ulong token)
    {
        lock (_gate)
        {
            int slot = (int)(uint)token;
            if (slot < _used && ReferenceEquals(_members[slot], member))
            {
                _members[slot] = null;
                _generations[slot]++;
                _free[_freeCount++] = slot;
            }
        }
    }

    /// <summary>The next events of a loop (waiting as <paramref name="poll"/> does, again after an
    /// interruption), resolved into <paramref name="members"/> (null: removed since); their count.</summary>
    internal unsafe int Next(ref BusyPollWait poll, int epoll, byte* events, T?[] members, long pollTicks)
    {
        int count;
        while ((count = poll.Wait(epoll, events, members.Length, pollTicks)) <= 0)
        {
            // EINTR: wait again.
        }

        Resolve(events, count, members);
        return count;
    }

    /// <summary>Resolves the tokens of one epoll_wait into members (null: removed since).</summary>
    internal unsafe void Resolve(byte* events, int count, T?[] members)
    {
        lock (_gate)
        {
            for (int i = 0; i < count; i++)
            {
                ulong token = Native.Epoll.TokenAt(events, i);
                int slot = (int)(uint)token;
                members[i] = slot < _used && _generations[slot] == (uint)(token >> 32) ? _members[slot] : null;
            }
        }
    }
}
