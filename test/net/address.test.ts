import { expect } from 'chai';
import { formatAddress, hostKey, parseHostPort } from '../../lib/net/address.js';

describe('hostKey', () => {
  it('keys an IPv4 address by itself and an IPv4-mapped IPv6 address by its IPv4 address', () => {
    expect(hostKey('192.0.2.7')).to.equal('192.0.2.7');
    expect(hostKey('::ffff:192.0.2.7')).to.equal('192.0.2.7');
    expect(hostKey('192.0.2.8')).to.not.equal(hostKey('192.0.2.7'));
  });

  it('keys IPv6 addresses by their /64, however they are written', () => {
    const a = hostKey('2001:db8:1:2::1');
    expect(a).to.equal('2001:db8:1:2::/64');
    expect(hostKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).to.equal(a);
    expect(hostKey('2001:DB8:1:2:0:0:0:9')).to.equal(a);
    expect(hostKey('2001:db8:1:3::1')).to.not.equal(a);
    expect(hostKey('::1')).to.equal('0:0:0:0::/64');
    expect(hostKey('fe80::1%eth0')).to.equal('fe80:0:0:0::/64');
  });
});

describe('parseHostPort and formatAddress', () => {
  it('tell an IPv6 address from HOST:PORT by its colons', () => {
    expect(parseHostPort('198.18.0.2:6711')).to.deep.equal({ host: '198.18.0.2', port: 6711 });
    expect(parseHostPort('example.net:9')).to.deep.equal({ host: 'example.net', port: 9 });
    expect(parseHostPort('::1')).to.deep.equal({ host: '::1', port: 6711 });
    expect(parseHostPort('2001:db8::7')).to.deep.equal({ host: '2001:db8::7', port: 6711 });
    expect(parseHostPort('[::1]:80')).to.deep.equal({ host: '::1', port: 80 });
    expect(() => parseHostPort('[192.0.2.1]:80')).to.throw('invalid IPv6 address');
    expect(() => parseHostPort('[:]:80')).to.throw('invalid IPv6 address');
    expect(() => parseHostPort('1:2:3')).to.throw('invalid host');
    expect(formatAddress('::1', 80)).to.equal('[::1]:80');
    expect(formatAddress('2001:db8::7', 6711)).to.equal('[2001:db8::7]:6711');
    expect(formatAddress('192.0.2.1', 80)).to.equal('192.0.2.1:80');
  });
});
