using System.Globalization;
using DockerProxy.Hosting;

namespace DockerProxy.Cli;

/// <summary>
/// Reads our own options (those beyond the original's): from the flag if given, else from its
/// environment variable. Problems are collected, each naming the flag or variable it came from,
/// so that one start-up failure reports all of them.
/// </summary>
internal sealed class SettingReader
{
    private readonly FlagValues _values;
    private readonly Func<string, string?> _environment;

    internal SettingReader(FlagValues values, Func<string, string?> environment, List<string> problems)
    {
        _values = values;
        _environment = environment;
        Problems = problems;
    }

    internal List<string> Problems { get; }

    /// <summary>One of a fixed set of words.</summary>
    internal T Choice<T>(string flag, T fallback, params (string Word, T Value)[] choices)
    {
        if (Read(flag, out string source) is not string text)
        {
            return fallback;
        }

        foreach ((string word, T value) in choices)
        {
            if (word == text)
            {
                return value;
            }
        }

        Problems.Add($"invalid {source} \"{text}\": must be {Words(choices)}");
        return fallback;
    }

    /// <summary>A positive Go duration ("90s", "5m").</summary>
    internal TimeSpan? Duration(string flag, TimeSpan? fallback) =>
        Duration(flag, fallback, TimeSpan.FromTicks(1), TimeSpan.MaxValue, "a positive Go duration such as 90s or 5m");

    /// <summary>A Go duration from zero (off) up to max.</summary>
    internal TimeSpan ZeroOrDuration(string flag, TimeSpan fallback, TimeSpan max) =>
        Duration(flag, fallback, TimeSpan.Zero, max, "a Go duration from 0 to {0}ms, such as 50us")!.Value;

    // EXPECTED, formatted with max in milliseconds, is built only for a problem.
    private TimeSpan? Duration(string flag, TimeSpan? fallback, TimeSpan min, TimeSpan max, string expected)
    {
        if (Read(flag, out string source) is not string text)
        {
            return fallback;
        }

        if (GoDuration.TryParse(text, out TimeSpan value) && value >= min && value <= max)
        {
            return value;
        }

        string must = string.Format(CultureInfo.InvariantCulture, expected, max.TotalMilliseconds);
        Problems.Add($"invalid {source} \"{text}\": must be {must}");
        return fallback;
    }

    /// <summary>An integer (Go syntax) within min..max.</summary>
    internal long? Integer(string flag, long? fallback, long min, long max)
    {
        if (Read(flag, out string source) is not string text)
        {
            return fallback;
        }

        if (GoSyntax.ParseInt(text, out long value) == GoIntResult.Ok && value >= min && value <= max)
        {
            return value;
        }

        Problems.Add($"invalid {source} \"{text}\": must be {min}-{max}");
        return fallback;
    }

    /// <summary>ADDR:PORT as Go writes it (net.JoinHostPort): an IPv6 address in brackets.</summary>
    internal System.Net.IPEndPoint? EndPoint(string flag)
    {
        if (Read(flag, out string source) is not string text)
        {
            return null;
        }

        int colon = text.LastIndexOf(':');
        if (colon > 0 && colon < text.Length - 1 && System.Net.IPEndPoint.TryParse(text, out System.Net.IPEndPoint? endPoint)
            && (endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork || text.StartsWith('[')))
        {
            return endPoint;
        }

        Problems.Add($"invalid {source} \"{text}\": must be ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464");
        return null;
    }

    /// <summary>Any non-empty text.</summary>
    internal string? Text(string flag) => Read(flag, out _);

    /// <summary>Throws the collected problems as one start-up failure, if any.</summary>
    internal void ThrowIfAny()
    {
        if (Problems.Count > 0)
        {
            throw new StartupException(string.Join("; ", Problems));
        }
    }

    // A flag wins over its environment variable; source names whichever was used, for messages.
    private string? Read(string flag, out string source)
    {
        source = "-" + flag;
        if (_values.Get(flag) is string value)
        {
            return value;
        }

        string? variable = Flags.Find(flag)?.EnvironmentVariable;
        if (variable is not null && _environment(variable) is string fromEnvironment && fromEnvironment.Length > 0)
        {
            source = variable;
            return fromEnvironment;
        }

        return null;
    }

    private static string Words<T>((string Word, T Value)[] choices)
    {
        var words = choices.Select(c => c.Word).ToArray();
        return words.Length == 1 ? words[0] : string.Join(", ", words[..^1]) + " or " + words[^1];
    }
}
