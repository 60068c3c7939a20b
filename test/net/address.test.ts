import { expect } from 'chai';
import { hostKey } from '../../lib/net/address.js';

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
