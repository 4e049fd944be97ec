namespace DockerProxy.Relay.Udp;

/// <summary>
/// The UDP sessions of one relay, by client address, in least-recently-used order. Bounded: adding
/// to a full table evicts the least recently used session, so a flood of new source addresses
/// cannot grow memory without end (the original's table is unbounded). Expiry walks from the least
/// recently used end and stops at the first live session, so a sweep costs only what it removes.
/// All members are thread-safe.
/// </summary>
internal sealed class SessionTable
{
    private readonly Dictionary<UdpEndpoint, UdpSession> _byClient = [];
    private readonly object _gate = new();
    private UdpSession? _newest;
    private UdpSession? _oldest;

    internal SessionTable(int capacity) => Capacity = capacity;

    internal int Capacity { get; }

    internal int Count
    {
        get
        {
            lock (_gate)
            {
                return _byClient.Count;
            }
        }
    }

    /// <summary>Finds the client's session and marks it used now.</summary>
    internal UdpSession? Find(in UdpEndpoint client, long now)
    {
        lock (_gate)
        {
            if (!_byClient.TryGetValue(client, out UdpSession? session))
            {
                return null;
            }

            MoveToNewest(session, now);
            return session;
        }
    }

    /// <summary>Marks the session used now (a reply went through it).</summary>
    internal void Touch(UdpSession session, long now)
    {
        lock (_gate)
        {
            if (session.InTable)
            {
                MoveToNewest(session, now);
            }
        }
    }

    /// <summary>Adds a session; returns the one evicted to make room, if the table was full.</summary>
    internal UdpSession? Add(UdpSession session)
    {
        lock (_gate)
        {
            UdpSession? evicted = null;
            if (_byClient.Count >= Capacity && _oldest is not null)
            {
                evicted = _oldest;
                Unlink(evicted);
            }

            _byClient[session.Client] = session;
            session.InTable = true;
            session.Older = _newest;
            session.Newer = null;
            if (_newest is not null)
            {
                _newest.Newer = session;
            }

            _newest = session;
            _oldest ??= session;
            return evicted;
        }
    }

    /// <summary>Removes the session if it is still in the table; whether it was.</summary>
    internal bool Remove(UdpSession session)
    {
        lock (_gate)
        {
            if (!session.InTable)
            {
                return false;
            }

            Unlink(session);
            return true;
        }
    }

    /// <summary>Removes the least recently used session (to free an fd); null when empty.</summary>
    internal UdpSession? RemoveOldest()
    {
        lock (_gate)
        {
            UdpSession? oldest = _oldest;
            if (oldest is not null)
            {
                Unlink(oldest);
            }

            return oldest;
        }
    }

    /// <summary>Removes and returns every session idle for longer than timeout.</summary>
    internal List<UdpSession> RemoveIdle(long now, TimeSpan timeout, TimeProvider time)
    {
        var expired = new List<UdpSession>();
        lock (_gate)
        {
            while (_oldest is not null && time.GetElapsedTime(_oldest.LastActive, now) >= timeout)
            {
                UdpSession session = _oldest;
                Unlink(session);
                expired.Add(session);
            }
        }

        return expired;
    }

    /// <summary>Gives back the room a past peak of sessions left in the index.</summary>
    internal void TrimExcess()
    {
        lock (_gate)
        {
            _byClient.TrimExcess();
        }
    }

    /// <summary>Removes and returns every session (the relay is stopping).</summary>
    internal List<UdpSession> RemoveAll()
    {
        lock (_gate)
        {
            var all = new List<UdpSession>(_byClient.Values);
            foreach (UdpSession session in all)
            {
                session.InTable = false;
                session.Newer = session.Older = null;
            }

            _byClient.Clear();
            _newest = _oldest = null;
            return all;
        }
    }

    private void MoveToNewest(UdpSession session, long now)
    {
        session.LastActive = now;
        if (_newest == session)
        {
            return;
        }

        // Take it out of its place...
        if (session.Older is not null)
        {
            session.Older.Newer = session.Newer;
        }
        else
        {
            _oldest = session.Newer;
        }

        session.Newer!.Older = session.Older;

        // ...and put it at the newest end.
        session.Older = _newest;
        session.Newer = null;
        _newest!.Newer = session;
        _newest = session;
    }

    private void Unlink(UdpSession session)
    {
        _byClient.Remove(session.Client);
        session.InTable = false;
        if (session.Older is not null)
        {
            session.Older.Newer = session.Newer;
        }
        else
        {
            _oldest = session.Newer;
        }

        if (session.Newer is not null)
        {
            session.Newer.Older = session.Older;
        }
        else
        {
            _newest = session.Older;
        }

        session.Newer = session.Older = null;
    }
}
